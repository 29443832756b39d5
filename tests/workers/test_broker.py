"""`emend serve` creates the embedded broker's queue before its worker and web server start."""
from __future__ import annotations

import sqlite3

from app.cli import prepare_broker


def test_prepare_broker_creates_the_task_queue(tmp_path, monkeypatch):
    import workers.celery_app as celery_module
    from app.config import get_settings

    broker = tmp_path / "broker.db"
    monkeypatch.setenv("EMEND_BROKER_URL", f"sqla+sqlite:///{broker}")
    get_settings.cache_clear()
    monkeypatch.setattr(celery_module, "celery_app", celery_module.make_celery())
    try:
        prepare_broker()
        prepare_broker()  # a second start finds it there
    finally:
        get_settings.cache_clear()
    with sqlite3.connect(broker) as db:
        assert db.execute("SELECT name FROM kombu_queue").fetchall() == [("emend",)]
