"""Domain errors raised by services; main.py turns them into HTTP answers (HTML or JSON)."""
from typing import Any

from pydantic import BaseModel, Field


class EmendError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(EmendError):
    """Also used when the caller may not know the thing exists."""
    status_code = 404


class Forbidden(EmendError):
    status_code = 403


class Conflict(EmendError):
    """Stale or clashing state: an edit of a superseded version, a run already applied."""
    status_code = 409


class Invalid(EmendError):
    """Bad input: empty or oversized documents, unknown values."""
    status_code = 422


class TooMany(EmendError):
    status_code = 429


class Unavailable(EmendError):
    """A service Emend depends on (the broker) did not answer; the action was not carried out."""
    status_code = 503


class ErrorOut(BaseModel):
    """Every error the JSON API answers: a message, or for request validation a list of problems."""
    detail: str | list[dict[str, Any]] = Field(
        description="What went wrong: a sentence, or (422 from request validation) one object per problem.")


def _error(description: str) -> dict:
    return {"model": ErrorOut, "description": description}


# Declared on every operation (create_app): any route may meet these.
ERROR_RESPONSES: dict[int | str, dict] = {
    400: _error("The body could not be parsed (not valid JSON or form data)."),
    401: _error("Not signed in, or the API token is invalid or revoked."),
    403: _error("The token lacks the scope, or the role does not allow it."),
    404: _error("No such thing, or not visible to you."),
    409: _error("Stale or clashing state (decided meanwhile, already applied, a run still going)."),
    415: _error("The body's media type is not one the API takes (application/json)."),
    422: _error("Invalid input: a sentence from the service, or a list from request validation."),
    429: _error("Too many attempts; wait and try again."),
    503: _error("A service Emend needs (the broker) is not reachable; nothing was started."),
}
