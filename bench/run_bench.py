"""Full runs of long documents in chunks, on PostgreSQL (not a test).

Documents of 1k, 5k, 15k and 40k words and one of 200,000 characters (generated prose with the
mistakes the offline reviser fixes; no network) each get a full run (critique → propose → verify
over every chunk, then the edits):

- with the offline reviser, in-process (what `emend serve` does by default);
- with a fake OpenAI-compatible model on 127.0.0.1 whose every answer takes --latency seconds
  (its content: an edit for every planted mistake in the prompt's chunk, one score per candidate;
  cheap to compute, so the bench's own CPU does not slow the pipeline it measures) and
  EMEND_MODEL_CONCURRENCY=--concurrency. The ideal is calls × latency /
  concurrency, measured in the same run; target: the 200,000-character run within 1.3× of it.

    .venv/bin/python bench/run_bench.py [--sizes 1000,5000,15000,40000,chars:200000] [--latency 0.5]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from model_concurrency import busy_seconds

SUBJECTS = ["The survey team", "Our volunteers", "The committee", "A small group of students", "The new manager",
            "Most of the farmers", "The river authority", "Her grandmother", "The research assistant", "Everyone"]
VERBS = ["measured", "described", "questioned", "collected", "reviewed", "painted", "repaired", "counted",
         "recorded", "discussed"]
OBJECTS = ["the flow of the river", "the results of the trial", "an old stone bridge", "the budget for next year",
           "every sample from the bank", "the letters from the archive", "the damage after the storm",
           "a list of open questions", "the weather over the valley", "the plans for the library"]
TAILS = ["before the rain came", "over a period of two weeks", "with great care", "in the early morning",
         "while the others waited", "for the third time this month", "without any help", "at the end of May"]
# Mistakes the offline reviser catches, spliced into about one sentence in four.
MISTAKES = [("we believe", "we beleive"), ("the ", "the the "), ("an early", "a early"), (",", " ,"),
            ("To measure", "In order to measure"), ("Because", "Due to the fact that"), ("a lot", "alot")]


def _sentence(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.15:
        return f"Because {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}, we believe it."
    if kind < 0.3:
        return f"To measure {rng.choice(OBJECTS)}, {rng.choice(SUBJECTS).lower()} worked {rng.choice(TAILS)}."
    if kind < 0.4:
        return f"It was an early start, and {rng.choice(SUBJECTS).lower()} had a lot to do."
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."


def prose(*, words: int | None = None, chars: int | None = None, seed: int = 7) -> str:
    """Paragraphs of 3–8 varied sentences, some with mistakes, up to `words` words or `chars` characters."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    count = length = 0
    while (words is None or count < words) and (chars is None or length < chars):
        sentences = []
        for _ in range(rng.randint(3, 8)):
            sentence = _sentence(rng)
            if rng.random() < 0.25:
                right, wrong = rng.choice(MISTAKES)
                sentence = sentence.replace(right, wrong, 1)
            sentences.append(sentence)
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        count += len(paragraph.split())
        length += len(paragraph) + 2
    text = "\n\n".join(paragraphs)
    return text[:chars].rsplit(" ", 1)[0] + "." if chars is not None else text


def peak_in_flight(timings: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _b in timings] + [(b, -1) for _a, b in timings])
    now = peak = 0
    for _when, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("EMEND_TEST_DATABASE_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--sizes", default="1000,5000,15000,40000,chars:200000",
                        help="word counts, or chars:N for a document of N characters")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fake-sizes", default="chars:200000", help="sizes also run against the fake model")
    args = parser.parse_args()

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["EMEND_MAX_DOCUMENT_CHARS"] = "600000"
    os.environ["EMEND_MODEL_CONCURRENCY"] = str(args.concurrency)
    from app.llm import prompts
    from tests.conftest import create_postgres_database, drop_postgres_database
    from tests.fakes.openai_server import FakeOpenAIServer, chat_reply

    def slow_answer(payload: dict):
        task, sections = prompts.read_prompt(payload.get("messages", []))
        text = sections.get("document", "")
        if task == "critique":
            answer = {"critiques": [{"segment": p[:60], "category": "length", "severity": "low",
                                     "text": "A long paragraph."} for p in text.split("\n\n") if len(p) > 900]}
        elif task == "propose":
            answer = {"edits": []}
            for right, wrong in MISTAKES:
                start = text.find(wrong)
                while start != -1:
                    answer["edits"].append({"original": wrong, "replacement": right, "start": start,
                                            "intent": "fluency", "rationale": "Planted.", "confidence": 0.9})
                    start = text.find(wrong, start + len(wrong))
        else:
            answer = {"scores": [{"index": i, "score": 0.9}
                                 for i in range(len(json.loads(sections.get("edits") or "[]")))]}
        reply = chat_reply(json.dumps(answer))
        reply.delay = args.latency
        return reply

    url = create_postgres_database(args.server, prefix="emend_bench")
    with FakeOpenAIServer(responder=slow_answer) as model:
        os.environ.update({"EMEND_DATABASE_URL": url, "EMEND_MODEL_API_BASE": model.base_url,
                           "EMEND_MODEL_API_KEY": "sk-bench"})
        from sqlalchemy import func, select

        from app import jobs
        from app.accounts import service as accounts
        from app.cli import migrate
        from app.config import get_settings
        from app.db import session_scope
        from app.documents import service as documents
        from app.llm import gateway
        from app.models import Edit, Run, User
        from app.runs import pipeline
        from app.runs import service as runs

        get_settings.cache_clear()
        jobs.set_dispatcher(lambda *_: None)  # the bench executes runs itself, in this process
        gateway.warm_up()
        results = []
        try:
            migrate(url)
            with session_scope() as s:
                admin = accounts.create_user(s, email="admin@bench.test", password="bench-password",
                                             is_site_admin=True)
                writer = accounts.create_user(s, email="writer@bench.test", password="bench-password")
                offline = accounts.create_project(s, name="Offline", actor=admin, cache_enabled=False)
                fake = accounts.create_project(s, name="Fake", actor=admin, model="openai/slow-model",
                                               cache_enabled=False, max_retries=0, timeout_seconds=60)
                for project in (offline, fake):
                    accounts.set_member(s, project=project, user=writer, role="writer", actor=admin)
                ids = (writer.id, offline.id, fake.id)
            writer_id, offline_id, fake_id = ids

            def start(mode: str, title: str, text: str) -> int:
                """A new document in the mode's project and a run on it (not executed yet)."""
                with session_scope() as s:
                    writer = s.get(User, writer_id)
                    document = documents.create_document(s, project_id=offline_id if mode == "offline" else fake_id,
                                                         title=title, text=text, actor=writer)
                    s.flush()
                    return runs.start_run(s, document_id=document.id, user=writer).id

            fake_sizes = set(args.fake_sizes.split(","))
            # The first call of each path pays one-off costs (litellm's lazy imports, the tokenizer,
            # the grammar checker); a small unmeasured run of each takes them out of the figures.
            sizes = ["warm-up"] + args.sizes.split(",")
            fake_sizes.add("warm-up")
            for size in sizes:
                if size == "warm-up":
                    text = prose(words=300)
                    for mode in ("offline", "fake"):
                        pipeline.execute(start(mode, f"warm-up {mode}", text))
                    continue
                text = prose(chars=int(size[6:])) if size.startswith("chars:") else prose(words=int(size))
                for mode in ("offline", "fake"):
                    if mode == "fake" and size not in fake_sizes:
                        continue
                    run_id = start(mode, f"{size} {mode}", text)
                    before = len(model.timings)
                    started = time.perf_counter()
                    pipeline.execute(run_id)
                    wall = time.perf_counter() - started
                    with session_scope() as s:
                        run = s.get(Run, run_id)
                        edits = s.scalar(select(func.count(Edit.id)).where(Edit.run_id == run_id))
                        row = {"size": size, "words": len(text.split()), "chars": len(text), "mode": mode,
                               "status": run.status, "error": run.error, "chunks": run.chunk_count,
                               "edits": edits, "wall_s": round(wall, 2)}
                    if mode == "fake":
                        timings = sorted(model.timings[before:])
                        ideal = len(timings) * args.latency / args.concurrency
                        first, last = timings[0][0], max(b for _a, b in timings)
                        row.update(calls=len(timings), ideal_s=round(ideal, 2), ratio=round(wall / ideal, 2),
                                   peak_in_flight=peak_in_flight(timings),
                                   utilisation=round(busy_seconds(timings, first, last)
                                                     / (args.concurrency * (last - first)), 3))
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            get_settings.cache_clear()
            drop_postgres_database(args.server, url)
    print()
    print(f"{'document':>16} {'chars':>8} {'chunks':>6} {'mode':>8} {'edits':>6} {'wall s':>7} "
          f"{'calls':>5} {'ideal s':>7} {'ratio':>5}")
    for r in results:
        print(f"{r['size']:>16} {r['chars']:>8} {r['chunks']:>6} {r['mode']:>8} {r['edits']:>6} {r['wall_s']:>7} "
              f"{r.get('calls', ''):>5} {r.get('ideal_s', ''):>7} {r.get('ratio', ''):>5}")
    return 0 if all(r["status"] == "succeeded" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
