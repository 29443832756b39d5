"""All settings in one place, read from the environment (prefix EMEND_) or a .env file."""
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMEND_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/emend.db"
    # Embedded default: kombu's SQLAlchemy transport on its own SQLite file (no Redis needed).
    broker_url: str = "sqla+sqlite:///var/broker.db"
    # Run Celery tasks in-process (used by some tests and scripts; never in production).
    task_always_eager: bool = False

    secret_key: str = "dev-insecure-change-me"
    session_cookie: str = "emend_session"
    session_max_age: int = 14 * 24 * 3600
    cookie_secure: bool = False

    default_model: str = "emend/offline-reviser"
    # An OpenAI-compatible server (vLLM, Ollama, a proxy) for every project, and its key when the
    # provider's usual variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) does not apply.
    model_api_base: str | None = None
    model_api_key: str | None = None
    # Requests in flight at once to one model, per worker process. A worker runs twice as many
    # threads by default, so database work between stages never leaves a model slot idle.
    model_concurrency: int = 4
    # Requests a minute to one model (unset: no limit). Both limits hold across all workers on Redis.
    model_rpm: int | None = None
    # A run splits its version at paragraph breaks into chunks of at most this many characters and
    # runs each stage per chunk, concurrently within the model's slots. 6,000 characters (about
    # 1,500 tokens) leave room in an 8k-token context for the instructions and a 2,048-token answer.
    chunk_chars: int = 6000
    # A running run whose worker has not beaten its heartbeat for this long (the worker died, or
    # lost the database), or a queued run not picked up for this long while the broker's queue is
    # empty (the message was lost), is re-sent by beat's sweep; the pipeline resumes where it was.
    run_stale_seconds: int = 60
    # Re-sends of one run before the sweep fails it with a message instead.
    run_max_recoveries: int = 3
    demo_password: str = "emend-demo"
    # How often beat releases idle queue claims (expired exports: every tenth time).
    sweep_seconds: float = 60.0

    # Requests whose work grows with a document's size (review, diff, bulk decisions) that one
    # server process runs at once; more wait their turn, so small pages never queue behind them.
    heavy_requests: int = 2

    max_document_chars: int = 500_000
    max_upload_bytes: int = 2_000_000  # 500,000 characters of UTF-8 with room for accents
    login_max_failures: int = 5
    login_window_seconds: int = 300

    export_dir: str = "var/exports"
    export_ttl_days: int = 7

    log_sql: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
