"""Pages at book-chapter size (issue 9): review page, diff, accept-all + apply, and whether the
largest document's pages make anyone else wait.

Against a real uvicorn server on 127.0.0.1 (bench/decision_load.py's helpers), on PostgreSQL (a
scratch database) and on SQLite (a scratch file, the embedded default):
- documents of 1k, 5k, 15k and 40k words and one of 200,000 characters (varied prose generated
  here), each with two versions and a run of pending edits (one per ~100 characters: 2,000 on
  the 200,000-character one);
- per document: review page bytes and time, diff of v1 and v2, accept-all + apply;
- the project page's p99 while 10 clients request the largest document's diff and review page
  without pause;
- 20 clients deciding edits at once (closed loop), p99.
Times are wall-clock on the client, reported with the same run's GET /healthz as the baseline.

Run: .venv/bin/python bench/page_bench.py [--seconds 8] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import decision_load as dl
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import migrate
from app.db import make_engine
from app.documents import service as documents
from app.models import Document, Edit, Run, User, Version
from tests.conftest import create_postgres_database, drop_postgres_database

SIZES = [("1k words", 1_000, None), ("5k words", 5_000, None), ("15k words", 15_000, None),
         ("40k words", 40_000, None), ("200,000 chars", None, 200_000), ("500,000 chars", None, 500_000)]
EDIT_EVERY = 100  # characters between pending edits
SYLLABLES = ["ba", "be", "bi", "bo", "bu", "da", "de", "di", "do", "ka", "ke", "ki", "ko", "la", "le", "li",
             "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "ra", "re", "ri", "ro", "sa", "se", "si",
             "so", "ta", "te", "ti", "to", "va", "ve", "vi", "vo"]
COMMON = ["the", "of", "and", "a", "to", "in", "is", "was", "that", "for", "it", "with", "as", "on", "by",
          "at", "from", "they", "this", "which", "or", "be", "an", "are", "had", "not", "but"]


def prose(*, words: int | None = None, chars: int | None = None, seed: int = 1) -> str:
    """Paragraphs of sentences over a Zipf-like vocabulary of 6,000 made-up words and common ones."""
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))) for _ in range(6000)]
    paragraphs, n_words, n_chars = [], 0, 0
    while (words is not None and n_words < words) or (chars is not None and n_chars < chars):
        sentences = []
        for _ in range(rnd.randint(2, 8)):
            ws = [rnd.choice(COMMON) if rnd.random() < 0.4 else vocab[min(int(rnd.paretovariate(1.2)) - 1, 5999)]
                  if rnd.random() < 0.5 else rnd.choice(vocab) for _ in range(rnd.randint(5, 26))]
            sentence = " ".join(ws)
            sentences.append(sentence[0].upper() + sentence[1:] + rnd.choice(".......?!") + rnd.choice(["", ""]))
            n_words += len(ws)
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        n_chars += len(paragraph) + 2
    text = "\n\n".join(paragraphs)
    return text[:chars].rstrip() if chars else text


def revised(text: str, *, seed: int = 2) -> str:
    """A second version: about one word in 60 changed, inserted or dropped."""
    rnd = random.Random(seed)
    out = []
    for word in text.split(" "):
        roll = rnd.random()
        if roll < 0.006:
            continue
        out.append(word.upper() if roll < 0.012 else word + " indeed" if roll < 0.017 else word)
    return " ".join(out)


def seed(url: str) -> dict:
    project_id, edit_ids = dl.seed(url, documents_count=60)  # the decision load's runs, and the users
    engine = make_engine(url)
    docs = []
    with Session(engine) as session:
        writer = session.scalar(select(User).where(User.email == "writer@bench.test"))
        for label, words, chars in SIZES:
            v1 = prose(words=words, chars=chars, seed=len(docs) + 1)
            document = documents.create_document(session, project_id=project_id, title=f"Bench {label}", text=v1,
                                                 actor=writer)
            first_id = document.current_version_id
            v2 = revised(v1)
            version = documents.add_version(session, document=document, text=v2, depth=1, actor=writer,
                                            parent=document.current_version)
            run = Run(project_id=project_id, document_id=document.id, version_id=version.id,
                      model="emend/offline-reviser", status="succeeded", created_by_id=writer.id)
            session.add(run)
            session.flush()
            edits, cursor = [], 0
            intents = ("fluency", "clarity", "style", "coherence")
            while True:
                start = v2.find(" ", cursor + EDIT_EVERY)
                if start == -1:
                    break
                end = v2.find(" ", start + 1)
                if end == -1:
                    break
                original = v2[start + 1:end]
                if original:
                    edits.append(Edit(run_id=run.id, version_id=version.id, start=start + 1, end=end,
                                      original=original, replacement=original.capitalize() + "s",
                                      intent=intents[len(edits) % 4], rationale="bench",
                                      confidence=0.5 + (len(edits) % 5) / 10))
                cursor = end
            session.add_all(edits)
            session.flush()
            docs.append({"label": label, "id": document.id, "run": run.id, "v1": first_id, "v2": version.id,
                         "chars": len(v2), "words": len(v2.split()), "edits": len(edits)})
        session.commit()
    engine.dispose()
    return {"project": project_id, "docs": docs, "edit_ids": edit_ids}


class Timer:
    """One keep-alive client that also reports response sizes."""

    def __init__(self, port: int, headers: dict):
        self.client = dl.Client(port, headers)

    def get(self, path: str, headers: dict | None = None) -> tuple[float, int]:
        for attempt in (1, 2):
            conn = self.client.conn
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers={**self.client.headers, **(headers or {})})
                response = conn.getresponse()
                body = response.read()
            except (dl.http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # An idle keep-alive connection the server closed: reconnect once, as browsers do.
                conn.close()
                self.client.conn = dl.http.client.HTTPConnection("127.0.0.1", self.client.port, timeout=60)
                if attempt == 2:
                    raise
                continue
            assert response.status == 200, (path, response.status, body[:300])
            return (time.perf_counter() - start) * 1000, len(body)
        raise AssertionError("unreachable")

    def post(self, path: str, body: str) -> float:
        start = time.perf_counter()
        status = self.client.request("POST", path, body, {"HX-Request": "true"})
        assert status == 200, (path, status)
        return (time.perf_counter() - start) * 1000


def median_get(timer: Timer, path: str, n: int = 5) -> tuple[float, int]:
    timer.get(path)  # warm
    runs = [timer.get(path) for _ in range(n)]
    return statistics.median(t for t, _ in runs), runs[0][1]


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def contention(port: int, headers: dict, project_path: str, review_path: str, diff_path: str, seconds: float,
               base: float, label: str) -> None:
    """The project page's latency (open loop, 10/s) while 10 clients load the heavy pages without pause."""
    stop = threading.Event()
    heavy: list[float] = []

    def hammer(k: int) -> None:
        t = Timer(port, headers)
        while not stop.is_set():
            heavy.append(t.get(diff_path if k % 2 else review_path)[0])

    threads = [threading.Thread(target=hammer, args=(k,), daemon=True) for k in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    lat, err = dl.open_loop(lambda c, i: c.request("GET", project_path) == 200, 10, seconds, port, headers)
    stop.set()
    for thread in threads:
        thread.join(30)
    print(f"project page while 10 clients load the largest diff/review pages ({label}): p50 {p(lat, .5):.1f} ms, "
          f"p99 {p(lat, .99):.1f} ms ({p(lat, .99) / base:.1f}x baseline), errors {err}; the heavy pages "
          f"meanwhile: p50 {p(heavy, .5):.0f} ms, {len(heavy) / (seconds + 1):.1f}/s", flush=True)


def deciders(port: int, headers: dict, ids: list[int], cursor: list[int], think: float, seconds: float,
             base: float, label: str) -> None:
    """20 clients deciding edits, each after the last answer plus `think` seconds (their first
    decisions spread over one `think`); `cursor` hands out pending edits across rounds."""
    decided: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def decider(offset: float) -> None:
        c = dl.Client(port, headers)
        deadline = time.perf_counter() + seconds
        time.sleep(offset)  # people do not all press a key in the same millisecond
        while time.perf_counter() < deadline:
            with lock:
                if cursor[0] >= len(ids):
                    return
                edit_id = ids[cursor[0]]
                cursor[0] += 1
            start = time.perf_counter()
            status = c.request("POST", f"/edits/{edit_id}/decide", "decision=accept", {"HX-Request": "true"})
            decided.append((time.perf_counter() - start) * 1000)
            errors[0] += status != 200
            time.sleep(think)

    starts = random.Random(20)
    threads = [threading.Thread(target=decider, args=(starts.uniform(0, think),)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"20 clients deciding, {think:g} s between decisions ({label}): n={len(decided)} ({len(decided) / seconds:.0f}/s) "
          f"p50 {p(decided, .5):.1f} ms p99 {p(decided, .99):.1f} ms ({p(decided, .99) / base:.1f}x baseline), "
          f"errors {errors[0]}", flush=True)


def bench_backend(name: str, url: str, seconds: float, extra_servers: list[tuple[str, dict]],
                  thinks: tuple[float, ...] = (0.0, 0.5)) -> None:
    migrate(url)
    data = seed(url)
    port = dl.free_port()
    proc = dl.start_server(url, port, 1)
    try:
        headers = dl.signed_in_headers(f"http://127.0.0.1:{port}")
        timer = Timer(port, headers)
        base, _ = median_get(timer, "/healthz", 20)
        print(f"\n== {name}: baseline GET /healthz median {base:.1f} ms", flush=True)
        largest = data["docs"][-1]
        review_path = f"/documents/{largest['id']}"
        diff_path = f"/documents/{largest['id']}/diff?a={largest['v1']}&b={largest['v2']}"
        project_path = f"/projects/{data['project']}"

        print(f"{'document':15s} {'chars':>8s} {'edits':>6s} {'review KB':>9s} {'review ms':>9s} "
              f"{'diff KB':>8s} {'diff ms (first / again)':>24s} {'accept-all+apply ms':>20s}")
        for doc in data["docs"]:
            review_ms, review_bytes = median_get(timer, f"/documents/{doc['id']}")
            diff_path_doc = f"/documents/{doc['id']}/diff?a={doc['v1']}&b={doc['v2']}"
            cold_ms, diff_bytes = timer.get(diff_path_doc)  # computed (later requests read it from the cache)
            diff_ms, _ = median_get(timer, diff_path_doc, 3)
            start = time.perf_counter()
            timer.post(f"/documents/{doc['id']}/decide-all", f"run_id={doc['run']}&decision=accept")
            timer.post(f"/documents/{doc['id']}/apply", f"run_id={doc['run']}")
            apply_ms = (time.perf_counter() - start) * 1000
            print(f"{doc['label']:15s} {doc['chars']:8d} {doc['edits']:6d} {review_bytes / 1000:9.0f} "
                  f"{review_ms:9.1f} {diff_bytes / 1000:8.0f} {cold_ms:14.1f} / {diff_ms:7.1f} {apply_ms:20.0f}",
                  flush=True)
        # The project page while 10 clients ask for the largest document's diff and review page,
        # with the gate on heavy requests as configured and, for comparison in the same run, without.
        quiet, _ = median_get(timer, project_path, 20)
        print(f"project page alone: median {quiet:.1f} ms")
        contention(port, headers, project_path, review_path, diff_path, seconds, base, "as configured")
        # 20 writers deciding at once (closed loop: each sends its next decision when the last one
        # answered, after a pause for reading; 0 s is saturation, 0.5 s a fast keyboard reviewer).
        cursor = [0]
        for think in thinks:
            deciders(port, headers, data["edit_ids"], cursor, think, seconds, base, "as configured")
        for label, env in extra_servers:  # the same on servers with other settings, for comparison
            other = dl.free_port()
            other_proc = dl.start_server(url, other, 1, env)
            try:
                other_headers = dl.signed_in_headers(f"http://127.0.0.1:{other}")
                contention(other, other_headers, project_path, review_path, diff_path, seconds, base, label)
                deciders(other, other_headers, data["edit_ids"], cursor, thinks[-1], seconds, base, label)
            finally:
                other_proc.terminate()
                other_proc.wait(10)

        _check_applied(url, data)
    finally:
        proc.terminate()
        proc.wait(10)


def _check_applied(url: str, data: dict) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        for doc in data["docs"]:
            document = session.get(Document, doc["id"])
            assert session.get(Version, document.current_version_id).number == 3, doc
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=dl.os.environ.get("EMEND_TEST_DATABASE_URL",
                                                              "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--compare", action="append", default=[], metavar="VAR=VALUE[,VAR=VALUE]",
                        help="also measure the contention on a server with these settings (same run)")
    args = parser.parse_args()
    extra = [(spec, dict(kv.split("=", 1) for kv in spec.split(","))) for spec in args.compare]
    if args.only != "sqlite":
        url = create_postgres_database(args.server, prefix="emend_bench")
        try:
            bench_backend("PostgreSQL", url, args.seconds, extra)
        finally:
            drop_postgres_database(args.server, url)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend("SQLite (embedded default)", f"sqlite:///{tmp}/bench.db", args.seconds, extra)


if __name__ == "__main__":
    main()
