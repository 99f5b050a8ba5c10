"""Citizen participation: needs and satisfaction surveys, and priority consultations.

A survey is built by the direction, published at a public link (no account) and closed. Its
answers are anonymous: a response keeps the day it was given, its channel (web, paper, import)
and, when the survey asks, the respondent's public and territory, never an IP address, a name or
an invitation code. An invitation code only records that it was used.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin

SURVEY_KINDS = ("satisfaction", "needs", "consultation")
SURVEY_STATES = ("draft", "open", "closed")
SURVEY_ACCESS = ("open", "codes")
QUESTION_KINDS = ("single", "multiple", "scale", "number", "text", "points", "rating")
RESPONSE_CHANNELS = ("web", "paper", "import")


class Survey(TimestampMixin, VersionedMixin, Base):
    """A questionnaire and its publication: draft, open at its public link, then closed."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("token"),
        UniqueConstraint("organisation_id", "title"),
        CheckConstraint("kind IN ('satisfaction', 'needs', 'consultation')", name="kind_known"),
        CheckConstraint("state IN ('draft', 'open', 'closed')", name="state_known"),
        CheckConstraint("access IN ('open', 'codes')", name="access_known"),
        CheckConstraint("threshold >= 1", name="threshold_positive"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    #: ``satisfaction`` (ex post, users of a service), ``needs`` (ex ante, residents) or
    #: ``consultation`` (residents weigh the needs of the register).
    kind: Mapped[str] = mapped_column(String(16))
    introduction: Mapped[str | None] = mapped_column(Text)
    #: What is collected and why, shown on the public page (privacy statement).
    purpose: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(8), default="draft")
    #: The unguessable part of the public link (``/participer/<token>``).
    token: Mapped[str] = mapped_column(String(32))
    #: ``open``: anyone with the link, once per browser; ``codes``: one answer per invitation code.
    access: Mapped[str] = mapped_column(String(8), default="open")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)
    #: Ask the respondent's public (population group) and territory, for results by public and territory.
    ask_group: Mapped[bool] = mapped_column(default=False)
    ask_territory: Mapped[bool] = mapped_column(default=False)
    #: Fewest respondents of a public or territory whose answers are shown (secret statistique).
    threshold: Mapped[int] = mapped_column(default=11)
    #: Closed by the scheduled job at the end of this day (optional).
    closes_on: Mapped[date | None]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: Themes staff tag free-text answers with.
    themes: Mapped[list[str]] = mapped_column(default=list, server_default=sql_text("'[]'"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="survey",
        cascade="all, delete-orphan",
        order_by="SurveyQuestion.position",
        foreign_keys="SurveyQuestion.survey_id",
    )


class SurveyQuestion(TimestampMixin, Base):
    """A question: its kind, its settings, the condition under which it is asked, what it feeds.

    ``settings`` (JSON) by kind: ``options`` [{code, label, positive}] for single and multiple
    choice; ``min``, ``max``, ``min_label``, ``max_label``, ``positive_from`` for a scale;
    ``min``, ``max`` for a number; ``needs`` [need codes] and ``total`` (points to allocate) for
    ``points``; ``needs`` and ``max`` for ``rating`` (each need rated 0 to max).
    A question with ``indicator_id`` feeds that indicator with the share of positive answers.
    """

    __tablename__ = "survey_questions"
    __table_args__ = (
        UniqueConstraint("survey_id", "code"),
        CheckConstraint(
            "kind IN ('single', 'multiple', 'scale', 'number', 'text', 'points', 'rating')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    code: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(500))
    help: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=sql_text("'{}'"))
    #: Asked only when this earlier question was answered with one of ``condition_values``.
    condition_question_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_questions.id", ondelete="SET NULL")
    )
    condition_values: Mapped[list[str]] = mapped_column(default=list, server_default=sql_text("'[]'"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id", ondelete="SET NULL"))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id", ondelete="SET NULL"))

    survey: Mapped[Survey] = relationship(back_populates="questions", foreign_keys=[survey_id])


class SurveyInvitation(Base):
    """An invitation code (stored hashed): one answer each; the answer does not point back to it.

    Only *whether* it was used is kept, not when: a time would let anyone who holds the list of
    who received which code pair codes and answers by their order.
    """

    __tablename__ = "survey_invitations"
    __table_args__ = (UniqueConstraint("survey_id", "code_hash"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    used: Mapped[bool] = mapped_column(default=False)


class SurveyStart(Base):
    """A questionnaire page that was answered (the hash of its single-use mark): one page shown,
    one answer at most. Nothing about the person; purged after a few days."""

    __tablename__ = "survey_starts"
    __table_args__ = (UniqueConstraint("survey_id", "mark_hash"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    mark_hash: Mapped[str] = mapped_column(String(64))
    used_on: Mapped[date]


class SurveyResponse(Base):
    """One anonymous answer sheet: the day, the channel, and the public and territory if asked."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("survey_id", "reference"),
        CheckConstraint("channel IN ('web', 'paper', 'import')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    #: The day only: a time would help single a respondent out.
    submitted_on: Mapped[date]
    channel: Mapped[str] = mapped_column(String(8), default="web")
    #: The number written on a paper questionnaire, so that it is not entered twice.
    reference: Mapped[str | None] = mapped_column(String(64))
    population_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("population_groups.id", ondelete="SET NULL")
    )
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id", ondelete="SET NULL"))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    answers: Mapped[list[SurveyAnswer]] = relationship(cascade="all, delete-orphan")


class SurveyAnswer(Base):
    """The answer to one question: a number, a text, chosen options or an allocation among needs."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("response_id", "question_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("survey_responses.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("survey_questions.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[float | None]
    text: Mapped[str | None] = mapped_column(Text)
    choices: Mapped[list[str]] = mapped_column(default=list, server_default=sql_text("'[]'"))
    #: Points or ratings by need code (priority consultation).
    allocation: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=sql_text("'{}'"))
    #: Themes staff tagged a free-text answer with.
    themes: Mapped[list[str]] = mapped_column(default=list, server_default=sql_text("'[]'"))
