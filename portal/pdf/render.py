"""PDFs with WeasyPrint, from the same templates and data as the pages.

Each document is laid out on its own, so "page N of M" counts that patient's pages only; a batch joins
the pages of several documents into one file, so no page ever carries two patients. Rendering is CPU
work: call these from a worker thread (`run_in_threadpool`) or the worker process, never on the event loop.
WeasyPrint (about 27 MB) is imported on the first PDF, not with this module: most web workers never print.

What does not depend on the document is prepared once per process and reused: the browser stylesheet and
the fixed rules of pdf/base.html. Nothing of a patient's is kept between documents. (A font configuration
kept per thread saved about 5 ms a document but held about 1.4 MB in each of the server's many threads.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment

PDF_VARIANT = "pdf/ua-1"  # tagged, for screen readers
BASE_STYLESHEET = "pdf/base.css"  # the rules of pdf/base.html that are the same in every document

# WeasyPrint's browser stylesheet gives every element of a document footnote and note pseudo-elements,
# and a list marker; working out their styles is most of the cascade's time. Printed documents use no
# footnotes or notes, and only list items (li) have markers. WeasyPrint has no option for this: its
# HTML._ua_stylesheets is overridden below; were that method to go, documents would only be slower.
_UNUSED_PSEUDO_ELEMENTS = ("::footnote", "::note")
_MARKER_RULE = "::marker"
_LIST_ITEM_MARKER_RULE = "li::marker"


@functools.cache
def _browser_stylesheet() -> Any:
    """WeasyPrint's HTML stylesheet without the rules printed documents never use, parsed once; None (so
    WeasyPrint's own is used) if this WeasyPrint keeps its stylesheet's text elsewhere."""
    import tinycss2  # type: ignore[import-untyped]  # WeasyPrint's own CSS parser
    import weasyprint
    import weasyprint.html

    text = getattr(weasyprint.html, "UA", None)
    counter_style = getattr(weasyprint.html, "UA_COUNTER_STYLE", None)
    if not isinstance(text, str) or counter_style is None:
        return None
    kept = []
    for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
        selector = tinycss2.serialize(rule.prelude).strip() if rule.type == "qualified-rule" else ""
        if selector.startswith(_UNUSED_PSEUDO_ELEMENTS):
            continue
        if selector == _MARKER_RULE:
            kept.append(f"{_LIST_ITEM_MARKER_RULE} {{{tinycss2.serialize(rule.content)}}}")
            continue
        kept.append(rule.serialize())
    return weasyprint.CSS(string="\n".join(kept), counter_style=counter_style)


@functools.lru_cache(maxsize=8)
def _stylesheet(text: str) -> Any:
    """A stylesheet parsed once per process (keyed by its text: the same for every document)."""
    import weasyprint

    return weasyprint.CSS(string=text)


@functools.cache
def _document_class() -> Any:
    import weasyprint
    import weasyprint.html

    class PrintedHTML(weasyprint.HTML):  # type: ignore[misc]
        def _ua_stylesheets(self, *args: Any, **kwargs: Any) -> Any:
            sheets = super()._ua_stylesheets(*args, **kwargs)
            lean, original = _browser_stylesheet(), getattr(weasyprint.html, "UA_STYLESHEET", None)
            if lean is None or original is None:
                return sheets
            return [lean if sheet is original else sheet for sheet in sheets]

    return PrintedHTML


def render_document(
    env: Environment,
    template: str,
    context: dict[str, Any],
    *,
    paper_size: str,
    shared_base_stylesheet: bool = False,
) -> Any:
    """Lay out one document (a weasyprint.Document) from a template under templates/pdf/.

    With `shared_base_stylesheet` (only for templates extending pdf/base.html) the base's fixed rules come
    from a stylesheet parsed once per process instead of a <style> parsed for each document."""
    import weasyprint

    stylesheets = [_stylesheet(env.get_template(BASE_STYLESHEET).render())] if shared_base_stylesheet else []
    html = env.get_template(template).render(
        paper_size=paper_size, base_stylesheet_shared=shared_base_stylesheet, **context
    )
    # Printed documents use inline SVG and local fonts only: a URL found in clinical text is never fetched.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"}, timeout=1)
    document = _document_class()(string=html, base_url=None, url_fetcher=fetcher)
    return document.render(stylesheets=stylesheets)


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
