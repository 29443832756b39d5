"""JSON API: who am I."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from app.accounts.deps import scoped
from app.accounts.schemas import MeOut
from app.models import User

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.get("/me", response_model=MeOut)
def me(request: Request, user: Annotated[User, scoped("read")]) -> MeOut:
    scopes = getattr(request.state, "token_scopes", None)
    return MeOut.model_validate(user).model_copy(
        update={"token_scopes": sorted(scopes) if scopes is not None else None})
