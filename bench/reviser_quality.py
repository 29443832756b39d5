"""Quality of a reviser on learner sentences with human corrections (JFLEG-style data).

The data folder holds `*.src` (one tokenised source sentence a line) and `*.ref0`, `*.ref1`, ...
(human corrections, line by line); it is read from the path given, never copied. Method (the
data's README): undo the tokenisation, run the system's propose stage on each sentence, turn its
output and every reference into word-level edits against the source (difflib over tokens);
precision = share of the system's edits found in at least one reference; recall and F0.5
against the reference closest to the system's output. Reported for the whole set and for its
even and odd halves (the offline reviser's confidences were tuned on the pooled set: compare
the halves for overfitting), by intent, with the commonest false positives, next to plain
pyspellchecker word-by-word correction measured in the same run.

  .venv/bin/python bench/reviser_quality.py ../shared/data/jfleg-dev
  .venv/bin/python bench/reviser_quality.py DATA --model openai/my-model --api-base http://127.0.0.1:8001/v1
  .venv/bin/python bench/reviser_quality.py DATA --rules      # per-rule precision (offline reviser)
  .venv/bin/python bench/reviser_quality.py DATA --speed      # 10,000 words, after warm-up
"""
from __future__ import annotations

import argparse
import difflib
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# ---------------------------------------------------------------- data and tokens

_CONTRACTION = re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)


def detokenise(line: str) -> str:
    text = " ".join(line.split())
    text = _CONTRACTION.sub(r"\1", text)
    text = re.sub(r" ([,.;:!?%)\]])", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    text = re.sub(r'" (.*?) "', r'"\1"', text)
    return text


_LEADING = "(\"'“‘[$"
_TRAILING = ",.;:!?)\"'”’]%"
_SUFFIX = re.compile(r"(?i)(n't|'s|'re|'ve|'ll|'d|'m)$")


def tokenise(text: str) -> list[str]:
    """The data's tokenisation, near enough: tokenise(detokenise(line)) == line.split() for most lines."""
    out = []
    for chunk in text.split():
        head, tail = [], []
        while len(chunk) > 1 and chunk[0] in _LEADING:
            head.append(chunk[0])
            chunk = chunk[1:]
        while len(chunk) > 1 and chunk[-1] in _TRAILING and not re.fullmatch(r"(?:[A-Za-z]\.)+", chunk):
            tail.insert(0, chunk[-1])
            chunk = chunk[:-1]
        m = _SUFFIX.search(chunk)
        if m and m.start() > 0:
            tail.insert(0, m.group())
            chunk = chunk[:m.start()]
        out.extend(head + [chunk] + tail)
    return out


def word_edits(source: list[str], target: list[str]) -> set[tuple[int, int, tuple[str, ...]]]:
    """(start, end, new tokens) for every changed block; a block replacing n tokens by n others is
    n one-word edits, so a fix is not missed because the corrector also changed the next word."""
    matcher = difflib.SequenceMatcher(None, source, target, autojunk=False)
    out = set()
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            out.update((i1 + k, i1 + k + 1, (target[j1 + k],)) for k in range(i2 - i1)
                       if source[i1 + k] != target[j1 + k])
        else:
            new = tuple(target[j1:j2])
            # Deleting or inserting one of two equal neighbours is the same edit: put it leftmost.
            while i1 > 0 and ((op == "delete" and source[i1 - 1] == source[i2 - 1])
                              or (op == "insert" and new and source[i1 - 1] == new[-1])):
                if op == "insert":
                    new = (source[i1 - 1],) + new[:-1]
                i1 -= 1
                i2 -= 1 if op == "delete" else 0
            out.add((i1, i2 if op != "insert" else i1, new))
    return out


def load(folder: Path) -> list[dict]:
    src_files = sorted(folder.glob("*.src"))
    if not src_files:
        raise SystemExit(f"No *.src file in {folder}.")
    src = src_files[0]
    refs = sorted(folder.glob(src.stem + ".ref*"))
    if not refs:
        raise SystemExit(f"No {src.stem}.ref* files in {folder}.")
    sources = src.read_text(encoding="utf-8").splitlines()
    references = [r.read_text(encoding="utf-8").splitlines() for r in refs]
    items = []
    for i, line in enumerate(sources):
        tokens = line.split()
        ref_sets = [word_edits(tokens, r[i].split()) for r in references if i < len(r)]
        items.append({"index": i, "text": detokenise(line), "tokens": tokens, "refs": ref_sets})
    return items


# ---------------------------------------------------------------- systems

def apply(text: str, edits: list[dict]) -> str:
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: e["start"]):
        if e["start"] < pos:
            continue
        out.append(text[pos:e["start"]])
        out.append(e["replacement"])
        pos = e["end"]
    out.append(text[pos:])
    return "".join(out)


def model_system(model: str, api_base: str | None):
    from app.llm import parsing, prompts
    from app.llm.gateway import ModelSettings, complete

    settings = ModelSettings(model=model, temperature=0.0, max_tokens=2000, timeout=60, max_retries=1,
                             cache=False, api_base=api_base)

    def propose(text: str) -> list[dict]:
        messages = prompts.propose_messages(text=text, critiques=[], guidelines=[], feedback="", do_not_repeat=[])
        call = complete(messages, settings, json_schema=prompts.schema_for("propose"))
        try:
            return parsing.parse_edits(call.content, text).edits
        except parsing.ParseError:
            return []
    return propose


def spellchecker_system(distance: int):
    from spellchecker import SpellChecker

    spell = SpellChecker(distance=distance)
    word = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")

    def propose(text: str) -> list[dict]:
        edits = []
        for m in word.finditer(text):
            w = m.group()
            lower = w.lower()
            if "'" in w or "’" in w or lower in spell or not spell.unknown([lower]):
                continue
            fix = spell.correction(lower)
            if fix and fix != lower:
                fix = fix[:1].upper() + fix[1:] if w[:1].isupper() else fix
                edits.append({"start": m.start(), "end": m.end(), "original": w, "replacement": fix,
                              "intent": "fluency"})
        return edits
    return propose


# ---------------------------------------------------------------- scoring

def _correct(item: dict, output_text: str) -> tuple[set, bool]:
    found = word_edits(item["tokens"], tokenise(output_text))
    return found, bool(found) and all(any(e in r for r in item["refs"]) for e in found)


def score(items: list[dict], outputs: dict[int, tuple[str, list[dict]]]) -> dict:
    n_sys = hits = tp = gold = 0
    by_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    false_positives: Counter = Counter()
    for item in items:
        output_text, edits = outputs[item["index"]]
        out_tokens = tokenise(output_text)
        sys_edits = word_edits(item["tokens"], out_tokens)
        n_sys += len(sys_edits)
        hits += sum(1 for e in sys_edits if any(e in r for r in item["refs"]))
        # The reference closest to the output: most shared edits, then fewest edits.
        best = max(item["refs"], key=lambda r: (len(sys_edits & r), -len(r)))
        tp += len(sys_edits & best)
        gold += len(best)
        for edit in edits:
            alone = apply(item["text"], [edit])
            _found, ok = _correct(item, alone)
            counts = by_intent[edit.get("intent") or "other"]
            counts[0] += 1
            counts[1] += ok
            if not ok:
                false_positives[(edit["original"], edit["replacement"])] += 1
    p = hits / n_sys if n_sys else 0.0
    r = tp / gold if gold else 0.0
    f = 1.25 * p * r / (0.25 * p + r) if p + r else 0.0
    return {"edits": n_sys, "precision": p, "recall": r, "f05": f, "by_intent": dict(by_intent),
            "false_positives": false_positives}


def run(items: list[dict], propose) -> dict[int, tuple[str, list[dict]]]:
    outputs = {}
    for item in items:
        edits = propose(item["text"])
        outputs[item["index"]] = (apply(item["text"], edits), edits)
    return outputs


def report(name: str, items: list[dict], outputs, top: int) -> None:
    halves = {"all": items, "even": items[0::2], "odd": items[1::2]}
    for label, part in halves.items():
        s = score(part, outputs)
        print(f"| {name} | {label} | {s['edits']} | {100 * s['precision']:.1f} | {100 * s['recall']:.1f} "
              f"| {100 * s['f05']:.1f} |")
        if label == "all":
            full = s
    intents = ", ".join(f"{k} {v[1]}/{v[0]} ({100 * v[1] / v[0]:.0f} %)" for k, v in sorted(full["by_intent"].items()))
    print(f"  by intent (each edit applied alone): {intents}")
    fps = ", ".join(f"{o!r}->{r!r} x{c}" for (o, r), c in full["false_positives"].most_common(top))
    print(f"  top false positives: {fps}")


# ---------------------------------------------------------------- per-rule table (offline reviser)

def rules_table(items: list[dict]) -> None:
    from app.llm.reviser import candidates, checker, policy

    stats: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    kinds: dict[str, str] = {}
    wrong: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        found, _rest = candidates(item["text"], harper_rules=checker.ALL)
        for e in found:
            edit = {"start": e.start, "end": e.end, "original": e.original, "replacement": e.replacement}
            _f, ok = _correct(item, apply(item["text"], [edit]))
            cell = stats[e.rule][item["index"] % 2]
            cell[0] += 1
            cell[1] += ok
            if not ok:
                wrong[e.rule][(e.original, e.replacement)] += 1
    kinds = {lint.rule: lint.kind for item in items for lint in checker.lint(item["text"], rules=checker.ALL)}
    print("| rule | kind | edits (even / odd) | precision even | precision odd | smoothed | policy |")
    print("|---|---|---|---|---|---|---|")
    for rule, ((ne, he), (no, ho)) in sorted(stats.items(), key=lambda kv: -(kv[1][0][0] + kv[1][1][0])):
        name = rule.removeprefix("harper:")
        kind = kinds.get(name, "emend")
        prior = policy.EMEND_PRIORS.get(rule) if kind == "emend" else policy.KIND_CONFIDENCE.get(kind, 0.3)
        smoothed = (he + ho + policy.SMOOTHING * prior) / (ne + no + policy.SMOOTHING)
        current = policy.EMEND_RULES.get(rule, 0.0) if kind == "emend" else policy.harper_confidence(name, kind)
        pe = f"{100 * he / ne:.0f} %" if ne else "-"
        po = f"{100 * ho / no:.0f} %" if no else "-"
        print(f"| {rule} | {kind} | {ne} / {no} | {pe} | {po} | {smoothed:.2f} | {current:.2f} |")
        examples = ", ".join(f"{o!r}->{r!r}" for (o, r), _c in wrong[rule].most_common(3))
        if examples:
            print(f"|   wrong e.g. {examples} |")


# ---------------------------------------------------------------- speed

BASE = (
    "The committee recieve the the proposals in order to review them carefully.  Each proposal was written "
    "by a applicant , and a large number of them were very long.the chair noted that due to the fact that the "
    "deadline was short, reviewers had the ability to skip stuff they found somewhat irrelevant. "
    "At this point in time the goverment has not responded, although it is able to do so in the near future. "
)


def speed() -> None:
    from app.llm import prompts
    from app.llm.reviser import checker, core, respond, rules, warm_up

    frequency = rules.checker().word_frequency.dictionary
    vocab = sorted(frequency, key=lambda w: -frequency[w])[:5000]

    def text_for(seed: int) -> str:
        rng = random.Random(seed)  # a new text each time: no cache from an earlier run helps
        words: list[str] = []
        while len(words) < 10_000:
            words.extend(BASE.split())
            words.extend(rng.sample(vocab, 20))
        return " ".join(words[:10_000])

    texts = [text_for(seed) for seed in range(3)]
    baseline = min(_timed(lambda t=t: re.findall(r"\w+|[^\w\s]", t)) for t in texts)
    warm_up()
    times = []
    for t in texts:
        rules.clear_caches()
        core.clear_cache()
        checker.reset()  # a fresh, warmed Linter: Harper caches what it has seen
        warm_up()
        messages = prompts.propose_messages(text=t, critiques=[], guidelines=[], feedback="", do_not_repeat=[])
        times.append(_timed(lambda m=messages: respond(m)))
    seconds = min(times)
    print(f"baseline: regex tokenisation of 10,000 words {baseline * 1000:.1f} ms")
    print(f"propose, 10,000 new words after warm-up: best {seconds:.3f} s, worst {max(times):.3f} s "
          f"({10_000 / seconds:,.0f} words/s, {seconds / baseline:.0f}x baseline)")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder with *.src and *.ref0.. files")
    parser.add_argument("--model", default="emend/offline-reviser", help="litellm model string")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server for --model")
    parser.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    parser.add_argument("--top", type=int, default=12, help="false positives to list")
    parser.add_argument("--spell-distance", type=int, default=1, help="pyspellchecker edit distance")
    parser.add_argument("--no-baseline", action="store_true", help="skip pyspellchecker")
    parser.add_argument("--rules", action="store_true", help="per-rule precision of the offline reviser")
    parser.add_argument("--speed", action="store_true", help="time 10,000 words (offline reviser)")
    args = parser.parse_args()
    items = load(args.data)
    if args.limit:
        items = items[:args.limit]
    if args.rules:
        rules_table(items)
        return
    if args.speed:
        speed()
        return
    print(f"{len(items)} sentences, {sum(len(i['refs']) for i in items) / len(items):.1f} references each")
    print("| system | half | edits | precision | recall | F0.5 |")
    print("|---|---|---|---|---|---|")
    start = time.perf_counter()
    outputs = run(items, model_system(args.model, args.api_base))
    elapsed = time.perf_counter() - start
    report(args.model, items, outputs, args.top)
    print(f"  ({elapsed:.1f} s for {len(items)} sentences through the gateway)")
    if not args.no_baseline:
        outputs = run(items, spellchecker_system(args.spell_distance))
        report(f"pyspellchecker (distance {args.spell_distance}), word by word", items, outputs, args.top)


if __name__ == "__main__":
    main()
