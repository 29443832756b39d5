"""Pydantic models for the accounts part of the JSON API."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    is_site_admin: bool
    is_active: bool
    created_at: datetime


class MeOut(UserOut):
    # The token's scopes, or None for a browser session (limited by roles alone).
    token_scopes: list[str] | None = None
