"""The version diff at book-chapter size: correct, readable, and near-linear work (no timing)."""
from __future__ import annotations

import difflib
import random

import pytest

from app.documents import diffing, service

SYLLABLES = ["ba", "be", "bi", "bo", "da", "de", "di", "do", "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "ni", "no", "ra", "re", "ri", "ro", "sa", "se", "si", "so"]
COMMON = ["the", "of", "and", "a", "to", "in", "is", "was", "that", "for", "it", "with", "as", "on", "by"]


def prose(chars: int, *, seed: int = 1, paragraphs: bool = True) -> str:
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 4))) for _ in range(4000)]
    out, n = [], 0
    while n < chars:
        sentences = []
        for _ in range(rnd.randint(3, 8)):
            words = [rnd.choice(COMMON) if rnd.random() < 0.4 else rnd.choice(vocab) for _ in range(rnd.randint(6, 20))]
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rnd.choice(".?!"))
        paragraph = " ".join(sentences)
        out.append(paragraph)
        n += len(paragraph) + 2
    return ("\n\n" if paragraphs else " ").join(out)[:chars]


def mutate(text: str, changes: int, *, seed: int = 2) -> str:
    rnd = random.Random(seed)
    words = text.split(" ")
    for _ in range(changes):
        i = rnd.randrange(len(words))
        words[i] = words[i].upper() if rnd.random() < 0.5 else words[i] + " inserted"
    return " ".join(words)


def _sides(diff) -> tuple[str, str]:
    return ("".join(a for tag, a, _b in diff.ops if tag != "insert"),
            "".join(b for tag, _a, b in diff.ops if tag != "delete"))


@pytest.mark.parametrize("paragraphs", [True, False], ids=["paragraphs", "one-line"])
@pytest.mark.parametrize("changes", [5, 2000])
def test_large_diff_is_exact_and_does_linear_work(paragraphs, changes):
    a = prose(200_000, paragraphs=paragraphs)
    b = mutate(a, changes)
    diff = service.diff_versions(a, b)
    assert diff.method == "paragraph-anchored"
    assert _sides(diff) == (a, b)  # nothing lost, nothing invented
    # Readable: the changes are found word by word, not as one replaced block.
    changed = [op for op in diff.ops if op[0] != "equal"]
    assert len(changed) >= min(changes, 5)
    assert max(len(old) + len(new) for _tag, old, new in changed) < 2_000
    # Near-linear: every exact comparison is bounded per unit compared.
    tokens = len(diffing._TOKEN.findall(a)) + len(diffing._TOKEN.findall(b))
    assert diff.work <= (diffing.BOUND + 8) * tokens


def test_work_grows_linearly_with_size():
    small = prose(20_000, seed=5)
    large = prose(200_000, seed=5)
    w_small = service.diff_versions(small, mutate(small, 200)).work
    w_large = service.diff_versions(large, mutate(large, 2000)).work
    assert w_large <= 15 * w_small  # ten times the text, about ten times the work


def test_inserted_and_deleted_paragraphs_are_aligned():
    paras = [prose(300, seed=s) for s in range(30)]
    a = "\n\n".join(paras)
    b = "\n\n".join(paras[:5] + ["A brand new paragraph."] + paras[5:20] + paras[21:])
    diff = service.diff_versions(a, b)
    assert _sides(diff) == (a, b)
    inserted = [new for tag, _old, new in diff.ops if tag in ("insert", "replace")]
    assert any("A brand new paragraph." in piece for piece in inserted)
    deleted = "".join(old for tag, old, _new in diff.ops if tag in ("delete", "replace"))
    assert paras[20][:200] in deleted and paras[3][:50] not in deleted


@pytest.mark.parametrize("a,b", [
    ("one\ntwo\nthree\n", "one\n2\nthree\n"),
    ("".join(f"line {i}\n" for i in range(40)), "".join(f"line {i}\n" for i in range(40) if i not in (3, 30))),
    ("a\nb\nc\n", "a\nb\nc\nd\n"),
    ("x\n", "y\n"),
])
def test_unified_diff_matches_difflib_on_small_inputs(a, b):
    ours = service.diff_versions(a, b, a_label="v1", b_label="v2").unified
    theirs = [line.rstrip("\n") for line in difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile="v1", tofile="v2")]
    assert ours == theirs


def test_diff_page_folds_long_unchanged_stretches(client, db, writer, doc):
    from app.documents.service import add_version
    from tests.conftest import login

    text = prose(20_000, seed=9)
    first = add_version(db, document=doc, text=text, depth=0, actor=writer)
    second = add_version(db, document=doc, text=text.replace(text[10_000:10_010], "CHANGED!!", 1), depth=0,
                         actor=writer)
    db.flush()
    login(client, writer)
    page = client.get(f"/documents/{doc.id}/diff", params={"a": first.id, "b": second.id})
    assert page.status_code == 200
    assert "unchanged characters" in page.text and '<ins class="edit">' in page.text


def test_diff_page_of_a_long_document_comes_in_windows_that_add_up_to_the_whole_diff(client, db, writer, doc):
    import html
    import re

    from app.documents.service import add_version
    from tests.conftest import login

    text = prose(200_000, seed=11)
    first = add_version(db, document=doc, text=text, depth=0, actor=writer)
    second = add_version(db, document=doc, text=mutate(text, 3000), depth=0, actor=writer)
    db.flush()
    login(client, writer)
    params = {"a": first.id, "b": second.id}
    page = client.get(f"/documents/{doc.id}/diff", params=params)
    assert page.status_code == 200
    assert len(page.content) <= 300_000  # the whole diff inline would be over 600 KB
    assert 'id="unified-diff"' not in page.text and f"/documents/{doc.id}/diff.txt?" in page.text
    inserted, body, windows = [], page.text, 1
    while True:
        inserted += re.findall(r"<ins class=\"edit\">(.*?)</ins>", body, re.DOTALL)
        more = re.search(r'hx-get="(/documents/\d+/diff/window\?[^"]+)"', body)
        if not more:
            break
        body = client.get(html.unescape(more.group(1)), headers={"HX-Request": "true"}).text
        assert len(body) <= 300_000
        windows += 1
    assert windows > 1
    expected = [b for tag, _a, b in service.diff_versions(text, second.text).ops if tag in ("insert", "replace") and b]
    assert [html.unescape(piece) for piece in inserted] == expected
    unified = client.get(f"/documents/{doc.id}/diff.txt", params=params)
    assert unified.status_code == 200 and unified.headers["content-type"].startswith("text/plain")
    assert unified.text.splitlines() == service.diff_versions(text, second.text, a_label=f"version {first.number}",
                                                              b_label=f"version {second.number}").unified


def test_a_rewritten_paragraph_reads_as_one_replacement_and_an_edited_one_word_by_word():
    old = "Her grandmother reviewed the weather over the valley in the early morning.\n\nThe cat sat on the mat.\n"
    new = "A paragraph the writer rewrote by hand.\n\nThe cat sat on a mat.\n"
    diff = service.diff_versions(old, new)
    changed = [(a, b) for tag, a, b in diff.ops if tag != "equal"]
    assert changed[0] == ("Her grandmother reviewed the weather over the valley in the early morning.",
                          "A paragraph the writer rewrote by hand.")
    assert changed[1] == ("the", "a")
    assert _sides(diff) == (old, new)
