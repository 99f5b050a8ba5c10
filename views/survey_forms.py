"""What the questionnaire template needs to draw each question, shared by the public form and the
staff's paper entry."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from models import Survey
from services.surveys import field_name, needs_of, options_of, profile_choices


def question_context(
    session: Session, survey: Survey, values: Mapping[str, Sequence[str]], errors: Mapping[str, str]
) -> dict[str, Any]:
    """``questions`` (one dict per question), ``groups``, ``territories``, ``values``, ``errors``, ``summary``."""
    by_id = {q.id: (n, q) for n, q in enumerate(survey.questions, start=1)}
    questions = []
    for number, question in enumerate(survey.questions, start=1):
        name = field_name(question)
        item: dict[str, Any] = {
            "q": question,
            "number": number,
            "name": name,
            "options": options_of(question),
            "values": list(values.get(name, [])),
            "error": errors.get(name),
            "needs": [],
            "condition": None,
        }
        if question.kind in ("points", "rating"):
            item["needs"] = [
                {
                    "need": need,
                    "name": field_name(question, need.code),
                    "value": (values.get(field_name(question, need.code)) or [""])[0],
                    "error": errors.get(field_name(question, need.code)),
                }
                for need in needs_of(session, question)
            ]
            item["total"] = int((question.settings or {}).get("total", 10))
        if question.condition_question_id in by_id:
            other_number, other = by_id[question.condition_question_id]
            labels = {str(o["code"]): str(o["label"]) for o in options_of(other)}
            chosen = [labels.get(v, v) for v in question.condition_values or []]
            item["condition"] = {
                "field": field_name(other),
                "values": json.dumps(list(question.condition_values or [])),
                "text": f"Répondez si vous avez répondu « {' » ou « '.join(chosen)} » à la question {other_number}.",
            }
        questions.append(item)
    groups, territories = profile_choices(session, survey)
    summary = [{"anchor": (key or "questionnaire"), "message": message} for key, message in errors.items()]
    return {
        "questions": questions,
        "groups": groups,
        "territories": territories,
        "values": values,
        "errors": errors,
        "summary": summary,
    }
