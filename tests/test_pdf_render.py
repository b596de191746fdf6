"""The PDF machinery: tagged PDF, embedded fonts, per-patient page numbering, one patient per page."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading

import pytest
from jinja2 import ChoiceLoader, DictLoader

from portal.pdf.render import render_document, write_pdf
from portal.templating import make_templates

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (make test installs it)"
)

LETTER_TEMPLATE = """{% extends "pdf/base.html" %}{% block title %}Letter{% endblock %}
{% block content %}<h1>Summary</h1>
{% for i in range(paragraphs) %}<p>Paragraph {{ i }} of the summary.</p>{% endfor %}
{% endblock %}"""


def environment():
    env = make_templates().env
    env.loader = ChoiceLoader([DictLoader({"pdf/test_letter.html": LETTER_TEMPLATE}), env.loader])
    return env


def document(env, name: str, paragraphs: int):
    context = {
        "clinic": {"name": "Riverside Family Clinic"},
        "patient_line": f"{name} · born 2015-04-02",
        "printed_on": "2026-11-21",
        "paragraphs": paragraphs,
    }
    return render_document(env, "pdf/test_letter.html", context, paper_size="Letter")


def pdf_text(tmp_path, pdf: bytes) -> list[str]:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return text.stdout.split("\f")[:-1]  # one string per page


def test_each_patient_keeps_their_own_page_numbers_and_header(tmp_path) -> None:
    env = environment()

    pdf = write_pdf([document(env, "Ana Rivera", 80), document(env, "Ben Okafor", 5)])

    pages = pdf_text(tmp_path, pdf)
    ana_pages = [p for p in pages if "Ana Rivera" in p]
    ben_pages = [p for p in pages if "Ben Okafor" in p]
    assert len(ana_pages) >= 2 and len(ben_pages) == 1
    assert len(ana_pages) + len(ben_pages) == len(pages)  # no page carries both
    assert f"Page 1 of {len(ana_pages)}" in ana_pages[0]
    assert "Page 1 of 1" in ben_pages[0]


def test_pdf_is_tagged_and_embeds_its_fonts(tmp_path) -> None:
    pdf = write_pdf([document(environment(), "Ana Rivera", 3)])
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)

    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout

    assert "Tagged:          yes" in info
    font_rows = fonts.splitlines()[2:]
    assert font_rows and all(" yes " in row for row in font_rows)


def test_a_url_in_the_document_is_never_fetched() -> None:
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/x.png"
    env = make_templates().env
    env.loader = ChoiceLoader(
        [
            DictLoader(
                {
                    "pdf/img.html": '{% extends "pdf/base.html" %}{% block content %}'
                    f'<img src="{url}" alt="x">{{% endblock %}}'
                }
            ),
            env.loader,
        ]
    )
    context = {"clinic": {"name": "C"}, "patient_line": "P", "printed_on": "2026-11-21"}

    try:
        pdf = write_pdf([render_document(env, "pdf/img.html", context, paper_size="A4")])
    finally:
        server.shutdown()
        server.server_close()

    assert pdf.startswith(b"%PDF")
    assert hits == []


def test_nothing_to_print_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to print"):
        write_pdf([])
