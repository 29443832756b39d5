"""`emend export`: the same export service, run synchronously into a directory."""
from __future__ import annotations

from app.exports import formats, service


def cmd_export(args) -> int:
    options = {
        "since": args.since, "until": args.until, "source": args.source, "model": args.model,
        "max_depth": args.max_depth, "person_id": args.person, "jsonl": not args.no_jsonl,
        "parquet": args.parquet, "gzip": args.gzip, "pseudonymise": args.pseudonymise, "flavour": args.flavour,
        "neutral_as": args.neutral_as, "edit_level": not args.no_edit_level, "licence": args.licence,
        "pair_kinds": args.pair_kind,
    }
    export = service.run_export(actor_email=args.user, format=args.format, project_id=args.project,
                                options=options, out_dir=args.out)
    if export.status != "succeeded":
        print(f"Export #{export.id} {export.status}: {export.error or ''}".rstrip())
        return 1
    print(f"Export #{export.id} ({export.format}): {export.rows_written} rows in {export.path}")
    for f in export.manifest["files"]:
        print(f"  {f['name']}  {f['rows']} rows  {f['bytes']} bytes  sha256 {f['sha256']}")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("export", help="export training data (sft, preference, unpaired, stepwise, "
                                             "critique_refinement, events) with a manifest and a dataset card")
    p.add_argument("--format", required=True, choices=formats.FORMATS)
    p.add_argument("--out", required=True, help="a new or empty directory for the bundle")
    p.add_argument("--parquet", action="store_true", help="also write data.parquet")
    p.add_argument("--no-jsonl", action="store_true", help="write Parquet only")
    p.add_argument("--gzip", action="store_true", help="compress the JSONL file")
    p.add_argument("--project", type=int, help="one project (default: all, site admins only)")
    p.add_argument("--since", help="YYYY-MM-DD or ISO time (inclusive)")
    p.add_argument("--until", help="YYYY-MM-DD (the whole day) or ISO time (exclusive)")
    p.add_argument("--source", default="all", choices=formats.SOURCES, help="human or ai (shadow user) feedback")
    p.add_argument("--model", help="only runs of this model")
    p.add_argument("--max-depth", type=int, help="only versions up to this revision depth")
    p.add_argument("--person", type=int, help="only this person's decisions or labels (user id)")
    p.add_argument("--pseudonymise", action="store_true", help="replace user ids by keyed pseudonyms")
    p.add_argument("--flavour", default="trl", choices=formats.FLAVOURS, help="field layout (sft, preference)")
    p.add_argument("--neutral-as", default="false", choices=formats.NEUTRAL_AS, help="stepwise: neutral labels")
    p.add_argument("--no-edit-level", action="store_true", help="sft: whole documents only, no per-edit rows")
    p.add_argument("--licence", default="unknown", choices=service.LICENCES)
    p.add_argument("--pair-kind", action="append", choices=formats.PAIR_KINDS,
                   help="preference: keep only this pair kind (repeatable)")
    p.add_argument("--user", help="e-mail of the admin recorded as requester (default: the first site admin)")
    p.set_defaults(func=cmd_export)


__all__ = ["register_cli"]
