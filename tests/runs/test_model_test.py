"""*Test model* on the settings page: queued to a worker, which records the answer or the plain error."""
from __future__ import annotations

import re

from app.projects import model_test
from tests.conftest import login
from tests.runs.test_run_pages import live_client  # noqa: F401  (fixture)

HX = {"HX-Request": "true"}


def _ask(live, client, sent_tasks, project_id: int) -> tuple[str, str]:
    page = client.post(f"/projects/{project_id}/settings/test-model", headers=HX)
    assert page.status_code == 200, page.text
    assert "in a worker" in page.text
    poll = re.search(r'hx-get="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    [(_name, (pid, token))] = [t for t in sent_tasks if t[0] == "models.test"]
    assert pid == project_id
    sent_tasks.clear()
    return token, poll


def test_the_button_asks_a_worker_and_shows_the_answer(live, live_client, sent_tasks):  # noqa: F811
    seeded = live.seed()
    login(live_client, seeded.admin)
    token, poll = _ask(live, live_client, sent_tasks, seeded.project_id)
    waiting = live_client.get(poll, headers=HX)
    assert "in a worker" in waiting.text and "hx-trigger" in waiting.text  # still polling
    model_test.run_test(live.Session, project_id=seeded.project_id, token=token)  # what the task does
    done = live_client.get(poll, headers=HX)
    assert "emend/offline-reviser answered in" in done.text and "hx-trigger" not in done.text
    # a writer may not test the project's model
    login(live_client, seeded.writer)
    assert live_client.post(f"/projects/{seeded.project_id}/settings/test-model", headers=HX).status_code in (403, 404)


def test_a_missing_key_and_an_unknown_model_string(live, live_client, sent_tasks, monkeypatch):  # noqa: F811
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    seeded = live.seed(model="openai/gpt-4o-mini")
    login(live_client, seeded.admin)
    token, poll = _ask(live, live_client, sent_tasks, seeded.project_id)
    model_test.run_test(live.Session, project_id=seeded.project_id, token=token)
    page = live_client.get(poll, headers=HX).text
    assert "OpenAI needs OPENAI_API_KEY on the worker" in page and "own error text" in page

    # Saving a new model string tests it at once; litellm does not know this one.
    form = {"name": "P", "model": "gpt4-turbo-typo", "temperature": "0", "max_tokens": "100",
            "timeout_seconds": "5", "max_retries": "0", "max_depth": "3", "verify_threshold": "0.5",
            "segment_unit": "sentence"}
    saved = live_client.post(f"/projects/{seeded.project_id}/settings", data=form, headers=HX)
    assert saved.status_code == 200, saved.text
    assert 'hx-swap-oob="true"' in saved.text
    [(_name, (_pid, token))] = [t for t in sent_tasks if t[0] == "models.test"]
    result = model_test.run_test(live.Session, project_id=seeded.project_id, token=token)
    assert result["ok"] is False and "litellm does not know the model string 'gpt4-turbo-typo'" in result["warning"]
