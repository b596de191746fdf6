"""What each viewer of a family's charts gets in every output: pages, htmx fragments, item pages, PDFs, the
FHIR download. The family (tests/data/door_family.json, written by hand) holds confidential items coded in
every position and a result in a category a clinician holds; each item's text carries a marker word, and
every output is searched for every marker.

- A limited proxy (the parent of the 15-year-old) never gets a confidential or held marker of the teen.
- Patients and proxies never get a held marker; the clinician does, marked not yet released.
- The teen and the clinician get the teen's confidential markers; the full proxy gets the 9-year-old's.
- The front desk gets no result in any output, page or PDF.
- A stranger and someone signed out get 404 or the sign-in page, and no marker.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from portal.config import Settings
from portal.fhir.importer import import_paths
from portal.models import Patient, Person, ProxyGrant
from tests.conftest import form_post, log_in

BUNDLE = Path(__file__).parent / "data" / "door_family.json"
TODAY = date(2026, 7, 1)  # the parent is 41, the teen 15 (a limited proxy's age), the child 9 (full)
PATIENTS = ("parent", "teen", "child")
HELD_CATEGORY = "CP"  # the category of the teen's cytology result, which the clinician holds

# Marker words, by whose chart they are in.
CONFIDENTIAL = {
    "teen": {
        "Quillfeather": "depression coded ICD-10-CM F32.9 first, SNOMED 35489007 second",
        "Marlinspike": "contraceptive whose RxNorm 748856 is the second coding",
        "Lanternfish": "visit whose reason is the depression",
        "Gossamerwick": "heart rate recorded in the depression visit",
        "Fernhollow": "chlamydia DNA result (LOINC 21613-5)",
        "Thistledown": "report holding the chlamydia result",
        "Oxbowmere": "condition marked meta.security R",
        "Wickerbasket": "psychotherapy procedure (CPT 90834)",
    },
    "child": {"Mossgrove": "condition marked meta.security R"},
    "parent": {},
}
HELD = {"teen": {"Cobblestone": "cytology result in a held category"}, "child": {}, "parent": {}}
ORDINARY = {
    "parent": {"Brambleton": "ordinary visit", "Copperline": "hemoglobin result"},
    "teen": {
        "Kestrelgate": "ordinary visit",
        "Pennywhistle": "hemoglobin result",
        "Saltmarsh": "report holding the hemoglobin",
        "Hollyhock": "ordinary medicine",
    },
    "child": {"Puddlejump": "ordinary visit", "Dandelion": "hemoglobin result"},
}
RESULTS = {"Copperline", "Pennywhistle", "Saltmarsh", "Dandelion", "Fernhollow", "Thistledown", "Cobblestone"}
NOT_YET_RELEASED = "Not yet released to the patient"

CHART_PAGES = (
    "summary",
    "results",
    "medications",
    "allergies",
    "problems",
    "immunizations",
    "visits",
    "documents",
    "growth",
    "print",
    "viewed",
    "access",
)


@dataclass(frozen=True)
class Output:
    label: str  # what it is, in words, naming the patient and not their random id
    kind: str  # page, fragment, pdf, fhir
    status: int
    text: str
    signed_out: bool


def pdf_text(tmp_path: Path, pdf: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (make test installs poppler-utils)")
    path = tmp_path / f"{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def world(app, client, session, monkeypatch, tmp_path):
    """The family imported, the people who look at it, and a category held by the clinician's screen."""
    monkeypatch.setattr(Settings, "today", lambda self: TODAY)
    bundle = json.loads(BUNDLE.read_text())
    issued = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # holds are judged against the real clock
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in ("Observation", "DiagnosticReport") and "Cobblestone" in json.dumps(
            resource
        ):
            resource["issued"] = issued
    path = tmp_path / "door_family.json"
    path.write_text(json.dumps(bundle))
    summary = import_paths(app.state.engine, [path])
    assert summary.failed == [], summary.failed

    given_names = {"parent": "Orla", "teen": "Wren", "child": "Pip"}
    patients = {
        name: session.exec(select(Patient).where(Patient.given_name == given)).one()
        for name, given in given_names.items()
    }
    people = {
        name: Person(display_name=name.title(), staff_role=role)
        for name, role in (
            ("parent", None),
            ("teen", None),
            ("stranger", None),
            ("clinician", "clinician"),
            ("front_desk", "front_desk"),
        )
    }
    session.add_all(people.values())
    session.flush()
    patients["parent"].person_id = people["parent"].id
    patients["teen"].person_id = people["teen"].id
    session.add_all(patients.values())
    for child in ("teen", "child"):
        session.add(
            ProxyGrant(
                proxy_person_id=people["parent"].id,
                patient_id=patients[child].id,
                relationship="parent",
                starts_on=patients[child].birth_date,
            )
        )
    session.commit()

    log_in(client, session, people["clinician"])
    held = form_post(
        client,
        "/clinic/result-holds",
        {"category": HELD_CATEGORY, "hours": "48", "reason": "Cytology is discussed with the family first."},
    )
    assert held.status_code == 200, held.text
    links = {name: item_links(client, patient) for name, patient in patients.items()}
    client.cookies.clear()
    return {"patients": patients, "people": people, "links": links}


def item_links(client, patient: Patient) -> dict[str, str]:
    """Every visit, report and result page, and every visit PDF, linked from the chart (asked as the
    clinician, who sees every item): the way a person finds them. Each link is named by its page's heading,
    so a failure says which item, not its random id."""
    base = f"/p/{patient.public_id}"
    found: set[str] = set()
    for page, pattern in (
        ("visits", r"/visits/[\w-]+"),
        ("results", r"/(?:reports|results)/[\w-]+"),
        ("print", r"/print/visit/[\w-]+"),
    ):
        response = client.get(f"{base}/{page}")
        assert response.status_code == 200, f"the clinician could not open the {page} page"
        found.update(base + link for link in re.findall(re.escape(base) + f"({pattern})", response.text))
    named = {}
    for link in sorted(found):
        page = link.replace("/print/visit/", "/visits/")
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", client.get(page).text, re.S)
        title = re.sub(r"<[^>]+>|\s+", " ", heading.group(1)).strip() if heading else link
        kind = "visit summary PDF" if "/print/" in link else page.split("/")[3].rstrip("s") + " page"
        named[link] = f"{kind} of {title!r}"
    return named


def outputs_of(client, tmp_path, name: str, patient: Patient, links: dict[str, str]) -> list[Output]:
    base = f"/p/{patient.public_id}"

    def label(path: str) -> str:
        return f"the {name}'s " + path.replace(base, "").strip("/")

    requests: list[tuple[str, str, str]] = []  # (label, kind, path)
    for page in CHART_PAGES:
        requests.append((label(f"{base}/{page}") + " page", "page", f"{base}/{page}"))
        requests.append((label(f"{base}/{page}") + " fragment", "fragment", f"{base}/{page}"))
    for link, title in links.items():
        kind = "pdf" if "/print/" in link else "page"
        requests.append((f"the {name}'s {title}", kind, link))
        if kind == "page":
            requests.append((f"the {name}'s {title}, as a fragment", "fragment", link))
    for pdf in ("summary", "immunizations"):
        requests.append((label(f"{base}/print/{pdf}") + " PDF", "pdf", f"{base}/print/{pdf}"))

    found = []
    for what, kind, path in requests:
        response = client.get(path, headers={"HX-Request": "true"} if kind == "fragment" else {})
        signed_out = response.url.path == "/login" or (
            response.status_code == 401 and response.headers.get("HX-Redirect", "").startswith("/login")
        )
        pdf = response.headers.get("content-type", "").startswith("application/pdf")
        text = pdf_text(tmp_path, response.content) if pdf and response.status_code == 200 else response.text
        found.append(Output(what, kind, response.status_code, text, signed_out))
    download = form_post(client, f"{base}/download")
    found.append(
        Output(
            f"the {name}'s FHIR download",
            "fhir",
            download.status_code,
            download.text,
            download.url.path == "/login",
        )
    )
    return found


def leaked(outputs: list[Output], markers: dict[str, str]) -> list[str]:
    return [
        f"{output.label} shows {marker!r} ({about})"
        for output in outputs
        for marker, about in markers.items()
        if marker in output.text
    ]


def missing(
    outputs: list[Output], markers: dict[str, str], *, kinds: tuple[str, ...] = ("page",)
) -> list[str]:
    shown = " ".join(output.text for output in outputs if output.kind in kinds and output.status == 200)
    return [
        f"{marker!r} ({about}) is in no {'/'.join(kinds)}"
        for marker, about in markers.items()
        if marker not in shown
    ]


def look(client, session, tmp_path, world, viewer: str, name: str) -> list[Output]:
    client.cookies.clear()
    if viewer != "signed out":
        log_in(client, session, world["people"][viewer])
    return outputs_of(client, tmp_path, name, world["patients"][name], world["links"][name])


# Who is what to whom in this family (DESIGN.md "Access rules"): the parent is the teen's limited proxy
# (15) and the child's full proxy (9); the teen is the patient; the clinician sees every chart.
SEES = {
    ("parent", "parent"): "self",
    ("parent", "teen"): "limited proxy",
    ("parent", "child"): "full proxy",
    ("teen", "teen"): "self",
    ("clinician", "parent"): "clinician",
    ("clinician", "teen"): "clinician",
    ("clinician", "child"): "clinician",
}
CASES = [
    (viewer, name)
    for viewer in ("parent", "teen", "clinician")
    for name in PATIENTS
    if (viewer, name) in SEES
]


@pytest.mark.parametrize(("viewer", "name"), CASES, ids=[f"{v}-sees-{n}" for v, n in CASES])
def test_each_viewer_gets_what_the_rules_allow_in_every_output(
    client, session, tmp_path, world, viewer: str, name: str
) -> None:
    how = SEES[(viewer, name)]
    outputs = look(client, session, tmp_path, world, viewer, name)
    who = f"{viewer} ({how} of the {name})"

    problems = missing(outputs, ORDINARY[name])
    if how == "limited proxy":
        problems += leaked(outputs, CONFIDENTIAL[name])
    else:
        problems += missing(outputs, CONFIDENTIAL[name])
    if how == "clinician":
        problems += missing(outputs, HELD[name])
        problems += [
            f"{output.label} shows {marker!r} without saying it is not yet released"
            for output in outputs
            for marker in HELD[name]
            if output.kind in ("page", "fragment")
            and marker in output.text
            and NOT_YET_RELEASED not in output.text
        ]
    else:
        problems += leaked(outputs, HELD[name])

    assert problems == [], f"{who}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("viewer", "name"), [("parent", "teen"), ("parent", "child"), ("teen", "teen")])
def test_the_fhir_download_and_visit_pdfs_carry_what_the_viewer_may_see(
    client, session, tmp_path, world, viewer: str, name: str
) -> None:
    """The patient and a full proxy download the record; a limited proxy's download, if any, hides the
    same items; each visit PDF names its visit."""
    how = SEES[(viewer, name)]
    outputs = look(client, session, tmp_path, world, viewer, name)
    download = next(output for output in outputs if output.kind == "fhir")

    problems = []
    if how == "limited proxy":
        problems += leaked([download], {**CONFIDENTIAL[name], **HELD[name]})
    else:
        assert download.status == 200, f"{viewer} ({how}) could not download the {name}'s record"
        problems += missing([download], {**ORDINARY[name], **CONFIDENTIAL[name]}, kinds=("fhir",))
        problems += leaked([download], HELD[name])
    visit_markers = {m: a for m, a in ORDINARY[name].items() if a == "ordinary visit"}
    problems += missing(outputs, visit_markers, kinds=("pdf",))

    assert problems == [], f"{viewer} ({how} of the {name}):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", list(PATIENTS))
def test_the_front_desk_gets_no_result_in_any_output(client, session, tmp_path, world, name: str) -> None:
    outputs = look(client, session, tmp_path, world, "front_desk", name)
    results = {
        marker: about
        for markers in (ORDINARY[name], CONFIDENTIAL[name], HELD[name])
        for marker, about in markers.items()
        if marker in RESULTS
    }

    problems = leaked(outputs, results) + leaked(outputs, CONFIDENTIAL[name])
    problems += missing(
        outputs, {m: a for m, a in ORDINARY[name].items() if a == "ordinary visit"}, kinds=("pdf",)
    )

    assert problems == [], f"front desk, the {name}'s chart:\n" + "\n".join(problems)


REFUSED = (
    [("stranger", name) for name in PATIENTS]
    + [("signed out", name) for name in PATIENTS]
    + [
        ("teen", "parent"),
        ("teen", "child"),
    ]
)


@pytest.mark.parametrize(("viewer", "name"), REFUSED, ids=[f"{v}-asks-for-{n}" for v, n in REFUSED])
def test_anyone_else_gets_a_missing_record_and_no_marker(
    client, session, tmp_path, world, viewer: str, name: str
) -> None:
    outputs = look(client, session, tmp_path, world, viewer, name)
    every_marker = {**ORDINARY[name], **CONFIDENTIAL[name], **HELD[name], "Tamsworth": "the family's name"}

    answered = [
        f"{output.label} answered {output.status}"
        for output in outputs
        if not (output.signed_out if viewer == "signed out" else output.status == 404)
    ]

    assert answered + leaked(outputs, every_marker) == [], (
        f"{viewer} asking for the {name}'s chart:\n" + "\n".join(answered + leaked(outputs, every_marker))
    )
