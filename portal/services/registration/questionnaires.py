"""FHIR R4 Questionnaires as forms, and their answers as QuestionnaireResponses.

Supported item types: group (a fieldset with its legend, nested to any depth), display, choice
(answerOption codings or strings), boolean, integer, decimal, date, string and text. `enableWhen` (with
`enableBehavior`) is judged here, on the server, from the answers given: a disabled item's answer is
dropped and its `required` does not apply. A required answer left empty gets a message next to the field,
and every other answer is kept for the form to show again.

Which questionnaires a check-in offers: the clinic's imported Questionnaire resources (`fhir_resource`
rows with no patient), else the samples in data/fhir/questionnaires/, filtered by the `useContext` age
range and `gender`. A Questionnaire the clinic labels confidential (`meta.security` R or V) has its
answers hidden from a limited proxy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from portal import forms
from portal.models.records import FhirResource
from portal.services.access import age_on

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "fhir" / "questionnaires"
CONFIDENTIAL_CODES = frozenset({"R", "V"})
ANSWER_LENGTH = 2000
Answers = dict[str, Any]  # linkId -> the answer's value (str, bool, int, Decimal, date)


def load(session: Session) -> list[dict[str, Any]]:
    """The clinic's Questionnaires: imported ones, or the project's samples when none were imported."""
    imported = [
        json.loads(text)
        for text in session.scalars(
            select(col(FhirResource.resource_json))
            .where(col(FhirResource.resource_type) == "Questionnaire")
            .where(col(FhirResource.patient_id).is_(None))
            .order_by(col(FhirResource.fhir_id))
        )
    ]
    if imported:
        return imported
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SAMPLES.glob("*.json"))]


def applies(questionnaire: dict[str, Any], *, birth_date: date | None, sex: str | None, today: date) -> bool:
    if questionnaire.get("status", "active") != "active":
        return False
    for context in questionnaire.get("useContext") or []:
        code = context.get("code", {}).get("code")
        if code == "age" and "valueRange" in context:
            if birth_date is None:
                return False
            age = age_on(birth_date, today)
            low = context["valueRange"].get("low", {}).get("value")
            high = context["valueRange"].get("high", {}).get("value")
            if (low is not None and age < low) or (high is not None and age > high):
                return False
        if code == "gender":
            wanted = {c.get("code") for c in context.get("valueCodeableConcept", {}).get("coding", [])}
            if wanted and sex not in wanted:
                return False
    return True


def confidential(questionnaire: dict[str, Any]) -> bool:
    labels = questionnaire.get("meta", {}).get("security") or []
    return any(label.get("code") in CONFIDENTIAL_CODES for label in labels)


def key_of(questionnaire: dict[str, Any]) -> str:
    return str(questionnaire.get("url") or f"Questionnaire/{questionnaire.get('id', '')}")


# ------------------------------------------------------------------------------------------ answers


def _options(item: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for option in item.get("answerOption") or []:
        if "valueCoding" in option:
            coding = option["valueCoding"]
            found.append((str(coding.get("code", "")), str(coding.get("display", coding.get("code", "")))))
        elif "valueString" in option:
            found.append((option["valueString"], option["valueString"]))
    return found


def _parse(item: dict[str, Any], raw: str) -> Any:
    """One answer from its form text; raises ValueError with a code when it cannot be taken."""
    kind = item.get("type")
    if kind == "boolean":
        if raw not in ("yes", "no"):
            raise ValueError("bad_choice")
        return raw == "yes"
    if kind == "choice":
        if raw not in {code for code, _ in _options(item)}:
            raise ValueError("bad_choice")
        return raw
    if kind == "integer":
        try:
            number = int(raw)
        except ValueError:
            raise ValueError("bad_integer") from None
        if abs(number) > 1_000_000:
            raise ValueError("bad_integer")
        return number
    if kind == "decimal":
        try:
            decimal = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise ValueError("bad_decimal") from None
        if not decimal.is_finite() or abs(decimal) > 1_000_000:
            raise ValueError("bad_decimal")
        return decimal
    if kind == "date":
        try:
            found = forms.day(raw)
        except forms.InputError:
            raise ValueError("bad_date") from None
        if found is None:
            raise ValueError("bad_date")
        return found
    return raw


def _matches(condition: dict[str, Any], answers: Answers) -> bool:
    operator = condition.get("operator")
    given = answers.get(condition.get("question", ""))
    if operator == "exists":
        return (given is not None) == bool(condition.get("answerBoolean", True))
    if given is None:
        return operator == "!="
    expected: Any = None
    for name, value in condition.items():
        if name.startswith("answer"):
            expected = value.get("code") if name == "answerCoding" else value
            if name == "answerDecimal":
                expected = Decimal(str(value))
            if name == "answerDate":
                expected = date.fromisoformat(value)
    try:
        if operator == "=":
            return bool(given == expected)
        if operator == "!=":
            return bool(given != expected)
        if operator == ">":
            return bool(given > expected)
        if operator == "<":
            return bool(given < expected)
        if operator == ">=":
            return bool(given >= expected)
        if operator == "<=":
            return bool(given <= expected)
    except TypeError:
        return False
    return False


def enabled(item: dict[str, Any], answers: Answers) -> bool:
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = [_matches(condition, answers) for condition in conditions]
    return any(results) if item.get("enableBehavior") == "any" else all(results)


@dataclass
class Filled:
    """A questionnaire's answers as given: values by linkId, and problems (codes) by linkId."""

    answers: Answers = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # what was typed, to show again when refused

    @property
    def complete(self) -> bool:
        return not self.problems


def _walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for item in items:
        found.append(item)
        found.extend(_walk(item.get("item") or []))
    return found


def fill(questionnaire: dict[str, Any], form: dict[str, str], prefix: str) -> Filled:
    """The answers in `form` (fields named prefix + linkId), checked; enableWhen judged on the server."""
    filled = Filled()
    every = _walk(questionnaire.get("item") or [])
    for item in every:
        if item.get("type") in ("group", "display"):
            continue
        link = item["linkId"]
        raw = form.get(prefix + link, "").strip()
        filled.raw[link] = raw[:ANSWER_LENGTH]
        if not raw:
            continue
        if len(raw) > ANSWER_LENGTH:
            filled.problems[link] = "too_long"
            continue
        try:
            filled.answers[link] = _parse(item, raw)
        except ValueError as problem:
            filled.problems[link] = str(problem)
    # Drop what is not enabled (an item inside a disabled group too), then check required answers.
    kept: Answers = {}

    def judge(items: list[dict[str, Any]], parent_enabled: bool) -> None:
        for item in items:
            on = parent_enabled and enabled(item, filled.answers)
            link = item["linkId"]
            if item.get("type") == "group":
                judge(item.get("item") or [], on)
                continue
            if not on:
                filled.problems.pop(link, None)
                continue
            if link in filled.answers:
                kept[link] = filled.answers[link]
            elif item.get("required") and link not in filled.problems and item.get("type") != "display":
                filled.problems[link] = "required"

    judge(questionnaire.get("item") or [], True)
    filled.answers = kept
    return filled


def _answer_json(item: dict[str, Any], value: Any) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "boolean":
        return {"valueBoolean": value}
    if kind == "integer":
        return {"valueInteger": value}
    if kind == "decimal":
        return {"valueDecimal": float(value)}
    if kind == "date":
        return {"valueDate": value.isoformat()}
    if kind == "choice":
        display = dict(_options(item)).get(value, value)
        if any("valueCoding" in option for option in item.get("answerOption") or []):
            return {"valueCoding": {"code": value, "display": display}}
        return {"valueString": value}
    return {"valueString": value}


def response(
    questionnaire: dict[str, Any],
    answers: Answers,
    *,
    patient_fhir_id: str,
    author: str,
    complete: bool,
    authored: datetime,
) -> dict[str, Any]:
    """The answers as a FHIR R4 QuestionnaireResponse, nested like the questionnaire (no empty groups)."""

    def items(of: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in of:
            link = item["linkId"]
            if item.get("type") == "group":
                inner = items(item.get("item") or [])
                if inner:
                    out.append({"linkId": link, "text": item.get("text", ""), "item": inner})
            elif link in answers:
                out.append(
                    {
                        "linkId": link,
                        "text": item.get("text", ""),
                        "answer": [_answer_json(item, answers[link])],
                    }
                )
        return out

    found: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": key_of(questionnaire),
        "status": "completed" if complete else "in-progress",
        "subject": {"reference": f"Patient/{patient_fhir_id}"},
        "authored": authored.isoformat(timespec="seconds"),
        "author": {"display": author},
        "item": items(questionnaire.get("item") or []),
    }
    if confidential(questionnaire):
        found["meta"] = {"security": questionnaire["meta"]["security"]}
    return found


def answers_of(questionnaire: dict[str, Any], stored: dict[str, Any]) -> dict[str, str]:
    """A stored QuestionnaireResponse's answers as form text, to fill the form in again."""
    kinds = {item["linkId"]: item for item in _walk(questionnaire.get("item") or [])}
    found: dict[str, str] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            walk(item.get("item") or [])
            for answer in item.get("answer") or []:
                for name, value in answer.items():
                    if name == "valueBoolean":
                        found[item["linkId"]] = "yes" if value else "no"
                    elif name == "valueCoding":
                        found[item["linkId"]] = str(value.get("code", ""))
                    elif name.startswith("value") and item["linkId"] in kinds:
                        found[item["linkId"]] = str(value)

    walk(stored.get("item") or [])
    return found
