"""The demo workspace that `emend serve` seeds: three users, a project and a flawed document."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.config import get_settings
from app.documents import service as documents
from app.models import User

DEMO_PROJECT = "Demo project"
DEMO_TITLE = "Field notes on the river survey"
# Real mistakes for the offline reviser: spelling, doubled words, a/an, spacing, wordiness,
# a missing capital, passive voice and vague words.
DEMO_TEXT = """The survey team arrived at the the river on a early morning in May. In order to measure the flow , we placed three sensors along the bank.  due to the fact that the water was high, one sensor was washed away.

The remaining data was collected by the volunteers over a period of two weeks. The results were very interesting and showed a large number of things we had not expected. At this point in time we beleive that the flow is changing faster then the old models predict.

Our reccomendation is to repeat the survey next year with an better anchoring system."""


def seed_demo(session: Session) -> bool:
    """Create the demo users, project and document unless they exist. True when something was made."""
    if session.scalar(select(User.id).where(User.email == "admin@example.com")) is not None:
        return False
    password = get_settings().demo_password
    admin = accounts.create_user(session, email="admin@example.com", password=password, name="Ada Admin",
                                 is_site_admin=True)
    writer = accounts.create_user(session, email="writer@example.com", password=password, name="Wren Writer")
    annotator = accounts.create_user(session, email="annotator@example.com", password=password,
                                     name="Ann Annotator")
    project = accounts.create_project(session, name=DEMO_PROJECT, actor=admin,
                                      description="A sandbox to try the revision loop.")
    accounts.set_member(session, project=project, user=writer, role="writer", actor=admin)
    accounts.set_member(session, project=project, user=annotator, role="annotator", actor=admin)
    documents.create_document(session, project_id=project.id, title=DEMO_TITLE, text=DEMO_TEXT, actor=writer)
    return True

