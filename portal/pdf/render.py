"""PDFs with WeasyPrint, from the same templates and data as the pages.

Each document is laid out on its own, so "page N of M" counts that patient's pages only; a batch joins
the pages of several documents into one file, so no page ever carries two patients. Rendering is CPU
work: call these from a worker thread (`run_in_threadpool`) or the worker process, never on the event loop.
WeasyPrint (about 27 MB) is imported on the first PDF, not with this module: most web workers never print.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jinja2 import Environment

PDF_VARIANT = "pdf/ua-1"  # tagged, for screen readers


def render_document(env: Environment, template: str, context: dict[str, Any], *, paper_size: str) -> Any:
    """Lay out one document (a weasyprint.Document) from a template under templates/pdf/."""
    import weasyprint

    html = env.get_template(template).render(paper_size=paper_size, **context)
    # Printed documents use inline SVG and local fonts only: a URL found in clinical text is never fetched.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"}, timeout=1)
    return weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render()


def write_pdf(documents: Iterable[Any]) -> bytes:
    """One PDF from one or more laid-out documents, each keeping its own page numbers and headers."""
    documents = list(documents)
    if not documents:
        raise ValueError("nothing to print")
    first = documents[0]
    pages = [page for document in documents for page in document.pages]
    combined = first.copy(pages) if len(documents) > 1 else first
    pdf: bytes = combined.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf
