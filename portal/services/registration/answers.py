"""The "Forms" step: the questionnaires this visit asks for, and saving their answers.

One rule decides what a viewer may see of a questionnaire: `hidden_from` — a questionnaire the clinic
labels confidential is neither shown nor answered by a limited proxy (a parent of a 12-17-year-old); its
answers are kept with the check-in and, once sent, as a QuestionnaireResponse labelled teen-confidential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from portal.models.base import utcnow
from portal.models.registration import CheckIn, CheckInAnswer
from portal.services.access import PatientScope
from portal.services.registration import questionnaires, steps


def hidden_from(scope: PatientScope, questionnaire: dict[str, Any]) -> bool:
    """The one visibility rule for check-in answers: confidential ones are not for a limited view."""
    return questionnaires.confidential(questionnaire) and not scope.sees_confidential


@dataclass(frozen=True)
class Form:
    questionnaire: dict[str, Any]
    key: str
    prefix: str
    values: dict[str, str]  # linkId -> form text
    problems: dict[str, str]  # linkId -> refusal code
    hidden: bool  # confidential, and this viewer may not see it


def offered(session: Session, scope: PatientScope) -> list[dict[str, Any]]:
    today = scope.now.date()
    return [
        q
        for q in questionnaires.load(session)
        if questionnaires.applies(q, birth_date=scope.patient.birth_date, sex=scope.patient.sex, today=today)
    ]


def stored_answers(session: Session, checkin: CheckIn | None) -> dict[str, CheckInAnswer]:
    if checkin is None:
        return {}
    rows = session.exec(select(CheckInAnswer).where(CheckInAnswer.checkin_id == checkin.id))
    return {row.questionnaire: row for row in rows}


def forms_page(session: Session, scope: PatientScope, opens_days: int = steps.DEFAULT_OPENS_DAYS) -> Any:
    """The check-in's progress and its questionnaires with the answers saved so far (a reader)."""
    progress = steps.progress(session, scope, opens_days)
    if progress is None:
        return None
    saved = stored_answers(session, progress.checkin)
    found = []
    for number, questionnaire in enumerate(offered(session, scope)):
        key = questionnaires.key_of(questionnaire)
        hidden = hidden_from(scope, questionnaire)
        row = saved.get(key)
        values = (
            questionnaires.answers_of(questionnaire, json.loads(row.response_json))
            if row and not hidden
            else {}
        )
        found.append(Form(questionnaire, key, f"q{number}:", values, {}, hidden))
    return progress, found


def save_forms(
    session: Session, scope: PatientScope, form: dict[str, str], opens_days: int = steps.DEFAULT_OPENS_DAYS
) -> tuple[CheckIn, list[Form]] | steps.Closed:
    """Save every questionnaire's answers (complete or not); the step is done when none has a problem."""
    checkin = steps.open_checkin(session, scope, opens_days)
    if isinstance(checkin, steps.Closed):
        return checkin
    saved = stored_answers(session, checkin)
    results = []
    for number, questionnaire in enumerate(offered(session, scope)):
        key = questionnaires.key_of(questionnaire)
        prefix = f"q{number}:"
        if hidden_from(scope, questionnaire):
            results.append(Form(questionnaire, key, prefix, {}, {}, True))
            continue
        filled = questionnaires.fill(questionnaire, form, prefix)
        answer = questionnaires.response(
            questionnaire,
            filled.answers,
            patient_fhir_id=scope.patient.fhir_id,
            author=scope.viewer.display_name,
            complete=filled.complete,
            authored=utcnow(),
        )
        assert checkin.id is not None
        row = saved.get(key) or CheckInAnswer(checkin_id=checkin.id, questionnaire=key)
        row.response_json = json.dumps(answer, sort_keys=True)
        row.complete = filled.complete
        row.confidential = questionnaires.confidential(questionnaire)
        row.answered_by_person_id = scope.viewer.id
        row.updated_at = utcnow()
        session.add(row)
        results.append(Form(questionnaire, key, prefix, filled.raw, filled.problems, False))
    if all(not f.problems for f in results):
        steps.mark_done(checkin, "forms")
    session.add(checkin)
    return checkin, results
