"""The project's spelling locale: a setting on the page and the API, handed to every run's model."""
from __future__ import annotations

import pytest

from app.errors import Invalid
from app.projects import service
from app.runs.service import LOCALE_GUIDELINES, guidelines_for
from tests.conftest import login


def test_locale_setting_is_validated_and_saved(db, project, site_admin):
    assert project.locale == "auto"
    project, changed = service.update_project(db, project_id=project.id, actor=site_admin, changes={"locale": "en-GB"})
    assert project.locale == "en-GB" and changed == ["locale"]
    with pytest.raises(Invalid, match="Spelling locale"):
        service.update_project(db, project_id=project.id, actor=site_admin, changes={"locale": "fr-FR"})
    assert project.locale == "en-GB"


def test_settings_page_offers_and_saves_the_locale(client, db, project, site_admin):
    login(client, site_admin)
    page = client.get(f"/projects/{project.id}/settings")
    assert page.status_code == 200 and 'name="locale"' in page.text and "British (en-GB)" in page.text
    form = {"name": project.name, "locale": "en-US"}
    response = client.post(f"/projects/{project.id}/settings", data=form, follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    db.refresh(project)
    assert project.locale == "en-US"


def test_runs_tell_the_model_the_locale(db, doc):
    assert not any(g.startswith("Spelling locale") for g in guidelines_for(db, document=doc))
    doc.project.locale = "en-GB"
    assert guidelines_for(db, document=doc)[-1] == LOCALE_GUIDELINES["en-GB"]
