"""`emend import FILE --project ID` and `emend convert-events EXPORT_DIR OUT.jsonl`."""
from __future__ import annotations

import sys

from sqlalchemy import select


def cmd_import(args) -> int:
    from app.db import SessionLocal, get_engine, session_scope
    from app.errors import NotFound
    from app.imports import service
    from app.models import User

    with session_scope() as session:
        query = select(User).where(User.email == args.user.strip().lower()) if args.user else (
            select(User).where(User.is_site_admin.is_(True)).order_by(User.id).limit(1))
        actor = session.scalar(query)
        if actor is None:
            raise NotFound("No such user (give --user EMAIL of an admin of the project).")
        job = service.create_import(session, actor=actor, project_id=args.project, filename=args.file,
                                    source_path=args.file, enqueue=False)
        session.flush()
        import_id = job.id
    get_engine()
    job = service.run_import(import_id, session_factory=SessionLocal)
    print(f"Import #{job.id} {job.status}: {job.records_added} records added, {job.records_skipped} already there, "
          f"{job.error_count} lines with errors")
    for kind, n in sorted((job.counts or {}).items()):
        print(f"  {kind}: {n}")
    for e in (job.errors or [])[:args.show_errors]:
        print(f"  line {e['line']}{' (' + e['id'] + ')' if e.get('id') else ''}: {e['message']}", file=sys.stderr)
    if job.error:
        print(f"error: {job.error}", file=sys.stderr)
    return 0 if job.status == "succeeded" and not job.error_count else 1


def cmd_convert(args) -> int:
    from app.imports import convert

    n = convert.convert_to_file(args.export_dir, args.out)
    print(f"{n} records written to {args.out}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("import", help="import a JSONL revision log into a project (docs/import-format.md)")
    p.add_argument("file", help="the JSONL file")
    p.add_argument("--project", type=int, required=True, help="the project's id")
    p.add_argument("--user", help="e-mail of an admin of the project (default: the first site admin)")
    p.add_argument("--show-errors", type=int, default=20, help="how many line errors to print")
    p.set_defaults(func=cmd_import)
    c = subparsers.add_parser("convert-events", help="convert an `events` export into the import format")
    c.add_argument("export_dir", help="the export's directory (data.jsonl, exposure.jsonl, versions.jsonl)")
    c.add_argument("out", help="the JSONL file to write")
    c.set_defaults(func=cmd_convert)


__all__ = ["register_cli"]
