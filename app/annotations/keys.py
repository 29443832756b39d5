"""An annotator's own workbench settings: keyboard bindings and whether labelling a step moves on
to the next. Stored on the user (users.annotator_settings, JSON); None means all defaults. The
pages hand the effective settings to static/js/annotate.js and list them on `?`."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.errors import Invalid
from app.events import service as events
from app.models import User

# (action, what it does, default keys). Order is the order of the `?` list and the form.
ACTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("good", "Label the step +1 (good)", ("1", "+")),
    ("neutral", "Label the step 0 (neutral)", ("2", "0")),
    ("bad", "Label the step −1 (bad)", ("3", "-")),
    ("comment", "Comment on the step", ("c",)),
    ("next", "Next step", ("n", "j")),
    ("previous", "Previous step", ("p", "k")),
    ("submit", "Submit the queue item and go to the next", ("s",)),
    ("help", "Show or hide this list", ("?",)),
)
DEFAULT_KEYS = {name: list(keys) for name, _text, keys in ACTIONS}
MAX_KEYS_PER_ACTION = 4
# Escape always leaves a comment field or closes this list; Enter and Space press the focused button.
RESERVED = {"Escape": "leaves a field", "Enter": "presses the focused button", " ": "presses the focused button"}


@dataclass
class Binding:
    name: str
    text: str
    keys: list[str]


@dataclass
class Settings:
    keys: dict[str, list[str]]
    advance: bool

    @property
    def bindings(self) -> list[Binding]:
        return [Binding(name, text, self.keys[name]) for name, text, _default in ACTIONS]

    def as_json(self) -> dict:
        return {"keys": self.keys, "advance": self.advance}


def effective(user: User | None) -> Settings:
    """The user's settings over the defaults (an action they never rebound keeps its keys)."""
    stored = (user.annotator_settings if user is not None else None) or {}
    saved = stored.get("keys") or {}
    keys = {name: list(saved.get(name) or default) for name, default in DEFAULT_KEYS.items()}
    return Settings(keys=keys, advance=bool(stored.get("advance", True)))


def parse_keys(text: str) -> list[str]:
    """A form field's keys, separated by spaces ("n j"); the word "space" is not a key here."""
    return [k for k in (text or "").split() if k]


def save(session: Session, *, user: User, keys: dict[str, list[str]], advance: bool) -> Settings:
    """Validate and store the user's bindings. Every action keeps at least one key, a key does one
    thing, and keys are single characters (as the browser reports them, so "N" is Shift+n)."""
    unknown = sorted(set(keys) - DEFAULT_KEYS.keys())
    if unknown:
        raise Invalid(f"Unknown shortcut action: {', '.join(unknown)}.")
    clean: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    texts = {name: text for name, text, _default in ACTIONS}
    for name, _text, default in ACTIONS:
        wanted = keys.get(name, list(default))
        if not wanted:
            raise Invalid(f"“{texts[name]}” needs at least one key.")
        if len(wanted) > MAX_KEYS_PER_ACTION:
            raise Invalid(f"“{texts[name]}” takes at most {MAX_KEYS_PER_ACTION} keys.")
        seen: list[str] = []
        for key in wanted:
            if key in RESERVED:
                raise Invalid(f"{key!r} cannot be bound: it {RESERVED[key]}.")
            if len(key) != 1 or not key.isprintable() or key.isspace():
                raise Invalid(f"“{key}” is not one key: use a single character such as n or 7.")
            if key in owner and owner[key] != name:
                raise Invalid(f"The key “{key}” is bound to both “{texts[owner[key]]}” and “{texts[name]}”.")
            owner[key] = name
            if key not in seen:
                seen.append(key)
        clean[name] = seen
    user.annotator_settings = {"keys": clean, "advance": bool(advance)}
    session.flush()
    events.record(session, kind="user.annotator_settings_changed", actor=user, subject=user,
                  data={"keys": clean, "advance": bool(advance)})
    return effective(user)
