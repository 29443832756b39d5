"""Domain errors raised by services; main.py turns them into HTTP answers (HTML or JSON)."""


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
