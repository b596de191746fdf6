"""Laying summaries out as PDF. Rendering is CPU work: `render_pdf` runs in a worker thread or the CLI,
never on the event loop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jinja2 import Environment

from portal import i18n
from portal.config import Settings
from portal.models.people import Patient
from portal.pdf.render import render_document, write_pdf
from portal.services.printing.documents import ImmunizationRecord, RecordSummary, VisitSummary

TEMPLATES = {
    VisitSummary: "pdf/visit_summary.html",
    RecordSummary: "pdf/record_summary.html",
    ImmunizationRecord: "pdf/immunizations.html",
}


def patient_line(patient: Patient) -> str:
    born = i18n.format_date(patient.birth_date, "long") if patient.birth_date else "?"
    return f"{patient.display_name} · {i18n.gettext('Date of birth')}: {born}"


def lay_out(
    env: Environment,
    settings: Settings,
    document: VisitSummary | RecordSummary | ImmunizationRecord,
    *,
    lang: str | None = None,
) -> Any:
    """One summary laid out on its own pages (a weasyprint Document)."""
    with i18n.using(lang) as chosen:
        context = {
            "summary": document,
            "patient": document.patient,
            "patient_line": patient_line(document.patient),
            "clinic": {"name": settings.clinic_name, "phone": settings.clinic_phone},
            "printed_on": i18n.format_date(settings.today(), "long"),
            "lang": chosen,
            "timezone": settings.timezone,
        }
        return render_document(
            env,
            TEMPLATES[type(document)],
            context,
            paper_size=settings.paper_size,
            shared_base_stylesheet=True,
        )


def render_pdf(
    env: Environment,
    settings: Settings,
    documents: Iterable[VisitSummary | RecordSummary | ImmunizationRecord],
    *,
    lang: str | None = None,
) -> bytes:
    """One PDF of one or more summaries, each laid out on its own (its own pages and page numbers)."""
    return write_pdf([lay_out(env, settings, document, lang=lang) for document in documents])
