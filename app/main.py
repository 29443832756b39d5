"""create_app(): middleware, routers, templates, static files, error pages."""
from __future__ import annotations

import importlib
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette_csrf import CSRFMiddleware

from app.accounts.deps import LoginRequired, refuse_tokens_on_pages
from app.bounds import check_request_input
from app.config import ROOT, get_settings
from app.errors import ERROR_RESPONSES, EmendError
from app.web import compile_templates, is_htmx, templates

SWAGGER_UI = "swagger-ui-5.35.0"  # vendored from the npm package swagger-ui-dist
FEATURES = ("accounts", "projects", "documents", "runs", "edits", "annotations", "events", "exports", "metrics", "search",
            "imports", "replays", "variants")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, message: str):
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    if is_htmx(request):
        # htmx swaps error answers into the flash area (see static/js/emend.js).
        return templates.TemplateResponse(request, "components/flash.html", {"message": message, "level": "error"},
                                          status_code=status, headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    return templates.TemplateResponse(request, "error.html", {"message": message, "status": status,
                                                              "user": getattr(request.state, "signed_in", None)},
                                      status_code=status)


def _jsonable_errors(errors) -> list[dict]:
    """Validation errors as JSON: an input that is not JSON (the bytes of a text/plain body) is
    shown by its repr, so the answer is the 422 it should be, not a 500."""
    out = []
    for error in errors:
        error = dict(error)
        error.pop("ctx", None)
        if "input" in error:
            try:
                error["input"] = jsonable_encoder(error["input"])
            except (TypeError, ValueError):
                error["input"] = repr(error["input"])[:200]
        out.append(error)
    return out


def create_app() -> FastAPI:
    settings = get_settings()
    compile_templates()
    # /docs is served below from vendored Swagger UI files: the default loads them from a CDN.
    app = FastAPI(title="Emend", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  dependencies=[Depends(refuse_tokens_on_pages), Depends(check_request_input)], responses=ERROR_RESPONSES)

    # Order: the session must be decoded before CSRF looks for the session cookie.
    app.add_middleware(
        CSRFMiddleware,
        secret=settings.secret_key,
        sensitive_cookies={settings.session_cookie},
        cookie_secure=settings.cookie_secure,
        header_name="x-csrftoken",
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=settings.session_cookie,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.cookie_secure,
    )

    app.mount("/static", StaticFiles(directory=str(ROOT / "static")), name="static")

    for feature in FEATURES:
        for part in ("pages", "api"):
            try:
                module = importlib.import_module(f"app.{feature}.{part}")
            except ModuleNotFoundError as exc:
                if exc.name != f"app.{feature}.{part}":
                    raise
                continue
            app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        if _wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = "/login?next=" + quote(request.url.path)
        if is_htmx(request):
            return JSONResponse({}, status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(request: Request, exc: Exception):
        # The database is restarting or unreachable: nothing was saved, and saying so beats a 500.
        return _error_response(request, 503, "The database is not answering right now; nothing was saved. "
                                             "Try again in a moment.")

    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: DataError):
        # A safety net behind the schemas' own bounds: a value the column cannot hold is the
        # client's error, and nothing was saved.
        return _error_response(request, 422, "A value is out of range or malformed; nothing was saved.")

    @app.exception_handler(EmendError)
    async def _domain_error(request: Request, exc: EmendError):
        return _error_response(request, exc.status_code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is nothing here."
        return _error_response(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        if _wants_json(request):
            return JSONResponse({"detail": _jsonable_errors(exc.errors())}, status_code=422)
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return _error_response(request, 422, "; ".join(parts) or "Invalid input.")

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title="Emend API",
            swagger_js_url=f"/static/vendor/{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"/static/vendor/{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"/static/vendor/{SWAGGER_UI}/favicon-32x32.png",
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"ok": True}

    return app
