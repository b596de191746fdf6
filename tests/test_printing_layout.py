"""How summaries sit on paper: long names and values wrap inside the page, lists keep their bullets."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import date, datetime

import pytest

from portal.models import Patient
from portal.services import printing
from portal.templating import make_templates

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (make test installs it)"
)

RIGHT_MARGIN_PT = 16 / 25.4 * 72  # pdf/base.html's page margin, 16 mm
LONG_TOKEN = "HydroxychloroquineSulfateExtendedReleaseTabletByACMEPharmaceutical0123456789"  # no break in it
LONG_NAME = (
    f"Amoxicillin and clavulanate potassium for oral suspension, 600 mg / 42.9 mg per 5 mL {LONG_TOKEN}"
)
LONG_VALUE = "Positive for " + "methicillin-resistant-Staphylococcus-aureus-isolated-from-the-wound-culture"


def visit(**changes: object) -> printing.VisitSummary:
    patient = Patient(fhir_id="long-1", given_name="Ana", family_name="Rivera", birth_date=date(2015, 4, 2))
    summary = printing.VisitSummary(
        patient=patient,
        encounter_public_id="v1",
        visit_at=datetime(2026, 3, 9, 14, 0),
        organization="Riverside Family Clinic",
        location=None,
        provider="Dr. Ada Okafor",
        visit_type="Well child visit",
        reason=None,
        vitals=[printing.Measurement("Weight", "21.3 kg")],
        diagnoses=["Otitis media"],
        medicines=[printing.Medicine(LONG_NAME, f"Take 5 mL by mouth twice a day {LONG_TOKEN}", "started")],
        results=[
            printing.ResultLine(
                f"Wound culture {LONG_TOKEN}", LONG_VALUE, f"Negative {LONG_TOKEN}", "abnormal"
            )
        ],
        notes=[],
        next_visits=[],
    )
    return dataclasses.replace(summary, **changes)


def words_with_boxes(tmp_path, pdf: bytes) -> tuple[float, list[tuple[str, float]]]:
    """The page width and each word with the right edge of its box, from `pdftotext -bbox`."""
    path = tmp_path / "long.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-raw", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    )
    width = float(re.search(r'<page width="([\d.]+)"', html.stdout).group(1))
    words = re.findall(
        r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', html.stdout
    )
    return width, [(word, float(x_max)) for x_max, word in words]


def test_long_medicine_names_and_result_values_wrap_inside_the_page(settings, tmp_path) -> None:
    pdf = printing.render_pdf(make_templates().env, settings, [visit()])

    width, words = words_with_boxes(tmp_path, pdf)
    text_ = "".join(word for word, _ in words)
    for whole in (LONG_NAME, LONG_VALUE, LONG_TOKEN, "Take 5 mL by mouth twice a day"):
        assert whole.replace(" ", "") in text_  # nothing lost or cut short
    overflowing = [word for word, x_max in words if x_max > width - RIGHT_MARGIN_PT + 1]
    assert overflowing == []


def test_a_list_keeps_its_bullets(settings, tmp_path) -> None:
    summary = visit(diagnoses=["Otitis media", "Eczema"])

    pdf = printing.render_pdf(make_templates().env, settings, [summary])

    _, words = words_with_boxes(tmp_path, pdf)
    texts = [word for word, _ in words]
    assert texts.count("•") == 2
