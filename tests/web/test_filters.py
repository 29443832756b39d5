"""Template filters."""
from __future__ import annotations

from app.web import templates
from tests.conftest import login
from tests.edits.factories import make_document, make_run


def test_whitespace_only_spans_are_drawn_visibly():
    show = templates.env.filters["visible_whitespace"]
    assert show("  ") == "␣␣"
    assert show(" \n") == "␣↵"
    assert show("a b") == "a b"  # words keep their spaces
    assert show("") == ""


def test_the_edit_list_shows_a_spacing_edit(db, writer, project, client):
    document = make_document(db, writer, project, text="Two  spaces here.")
    make_run(db, document, [("  ", " ")], user=writer)
    login(client, writer)
    page = client.get(f"/documents/{document.id}").text
    assert '<del class="edit">␣␣</del>' in page and '<ins class="edit">␣</ins>' in page
