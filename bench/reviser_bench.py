"""Speed of the offline reviser on 10 k words (target: at most 1 s).

Figures are reported next to a baseline measured in the same run — a plain regex word
tokenisation of the same text — because these machines are shared and noisy.
Run: .venv/bin/python bench/reviser_bench.py
"""
from __future__ import annotations

import json
import random
import re
import time

from app.llm.prompts import critique_messages, propose_messages, verify_messages
from app.llm.reviser import core, respond, rules

BASE = (
    "The committee recieve the the proposals in order to review them carefully.  Each proposal was written "
    "by a applicant , and a large number of them were very long.the chair noted that due to the fact that the "
    "deadline was short, reviewers had the ability to skip stuff they found somewhat irrelevant. "
    "At this point in time the goverment has not responded, although it is able to do so in the near future. "
)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = random.Random(1)
    frequency = rules.checker().word_frequency.dictionary
    vocab = sorted(frequency, key=lambda w: -frequency[w])[:5000]
    words: list[str] = []
    while len(words) < 10_000:
        words.extend(BASE.split())
        words.extend(rng.sample(vocab, 20))
    text = " ".join(words[:10_000])

    baseline = best_of(lambda: re.findall(r"\w+|[^\w\s]", text))
    print(f"baseline (regex tokenisation of 10k words): {baseline * 1000:.1f} ms")

    def cold(messages):
        rules.clear_caches()
        core.clear_cache()
        return respond(messages)

    propose = propose_messages(text=text, critiques=[], guidelines=[], feedback="", do_not_repeat=[])
    critique = critique_messages(text=text, guidelines=[], feedback="")
    edits = json.loads(respond(propose))["edits"]
    verify = verify_messages(text=text, edits=edits)
    for label, messages in (("propose", propose), ("critique", critique), ("verify", verify)):
        seconds = best_of(lambda messages=messages: cold(messages))
        print(f"{label:9s} {seconds:6.3f} s  {10_000 / seconds:>10,.0f} words/s  {seconds / baseline:6.1f}x baseline")

    # Worst case: every 10th word an unknown lowercase token never seen before.
    hard = " ".join(
        "".join(rng.choice("abcdefghijklmnoprstu") for _ in range(rng.randint(6, 11))) if i % 10 == 0
        else rng.choice(vocab[:3000]) for i in range(10_000)
    )
    seconds = best_of(lambda: cold(propose_messages(text=hard, critiques=[], guidelines=[], feedback="",
                                                    do_not_repeat=[])), repeat=1)
    print(f"worst case (1,000 unknown words) {seconds:.3f} s  {seconds / baseline:.1f}x baseline")


if __name__ == "__main__":
    main()
