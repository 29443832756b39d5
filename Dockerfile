# One image for the web server and the Celery workers (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # litellm would otherwise fetch its price list from the internet at import.
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    # Templates, static files and migrations are found next to the `app` package, so the code
    # runs from /app (the installed copy in site-packages provides the console script).
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or the code changes.
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
RUN pip install .

COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static

RUN useradd --create-home --uid 10001 emend \
    && mkdir -p /app/var/exports \
    && chown -R emend:emend /app/var
USER emend

EXPOSE 8000
CMD ["sh", "-c", "emend migrate && exec uvicorn app.main:create_app --factory --host 0.0.0.0 --port 8000"]
