"""Context highlighting and the compare diff on a long version (not a test; issue 12, item 3).

A 200,000-character version with 60 critique marks: the windowed context (app.annotations.context)
against the same marks over the whole text, both rendered with the trace's partial; and the
compare page's revision diff (app.annotations.comparisons.revision_diff) against the bare
app.documents.diffing.diff_texts it cuts down. Ratios are within this run.

    .venv/bin/python bench/context_bench.py
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000, statistics.median(times) * 1000


def main() -> None:
    from jinja2 import Environment, FileSystemLoader

    from app.annotations import comparisons, context
    from app.documents import diffing

    rng = random.Random(7)
    words = ["river", "team", "report", "market", "signal", "garden", "window", "budget", "letter", "engine", "winter", "harbour"]
    paragraphs = [" ".join(rng.choice(words) for _ in range(60)).capitalize() + "." for _ in range(600)]
    text = "\n\n".join(paragraphs)[:200_000].ljust(200_000, ".")
    starts = sorted(rng.sample(range(199_000), 60))
    marks = [context.Mark("critique", i, i + 1, s, s + 40, "vague · medium: say it plainly")
             for i, s in enumerate(starts)]
    env = Environment(loader=FileSystemLoader(str(ROOT / "templates")), autoescape=True)
    partial = env.get_template("annotations/_context.html")

    class Stage:
        id = 1

    def render(whole_below):
        return partial.render(stage=Stage, ctx=context.highlight(text, marks, whole_below=whole_below))

    windowed, whole = render(context.WHOLE_BELOW), render(10**9)
    w_best, w_med = _best(lambda: render(context.WHOLE_BELOW))
    f_best, f_med = _best(lambda: render(10**9))
    print(f"context, 200,000 characters, 60 marks: windowed {len(windowed):,} bytes in {w_best:.1f} ms "
          f"(median {w_med:.1f}); whole text {len(whole):,} bytes in {f_best:.1f} ms (median {f_med:.1f}); "
          f"size ratio {len(windowed) / len(whole):.3f}, time ratio {w_best / f_best:.2f}")

    b_paragraphs = list(paragraphs)
    for i in rng.sample(range(len(b_paragraphs)), 40):
        b_paragraphs[i] = b_paragraphs[i].replace("market", "bazaar", 1)
    b_text = "\n\n".join(b_paragraphs)[:200_000]
    a_text = text
    d = comparisons.revision_diff(a_text, b_text)
    shown = sum(len(o) + len(n) for t, o, n in d.ops if t != "gap")
    r_best, r_med = _best(lambda: comparisons.revision_diff(a_text, b_text), 3)
    b_best, b_med = _best(lambda: diffing.diff_texts(a_text, b_text), 3)
    print(f"revision diff, 200,000 characters, {d.changes} changes: {r_best:.1f} ms (median {r_med:.1f}) "
          f"against diff_texts alone {b_best:.1f} ms (median {b_med:.1f}), ratio {r_best / b_best:.2f}; "
          f"{shown:,} characters shown")


if __name__ == "__main__":
    main()
