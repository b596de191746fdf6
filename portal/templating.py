"""Templates, and render(): one URL answers with a full page or, for an htmx swap, just the fragment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_eval_context,
    select_autoescape,
)
from jinja2.bccache import Bucket
from jinja2.nodes import EvalContext
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from portal import i18n
from portal.services import plain_words

TEMPLATES = Path(__file__).parent / "templates"


class CompiledTemplates(BytecodeCache):
    """Compiled templates kept for the life of the process, shared by every app it makes (the tests make
    one per test): Jinja checks each template's source checksum, so an edited template is compiled again."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        bytecode_cache=COMPILED,
        auto_reload=False,  # templates do not change under a running server: no stat() per render
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails a test instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks are extracted with whitespace collapsed
    # The callables look up the current request's locale themselves (see portal.i18n), so one
    # environment serves every language.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    env.globals.update(TEMPLATE_GETTEXT)  # the same callables, cheaper (see below)
    env.filters.update(i18n.FILTERS)
    env.filters.update(plain_words.FILTERS)  # the EHR's words as a person says them
    # A message chosen in Python (marked with N_) translated when shown; unlike `_()` in a template it
    # stays ordinary text, so autoescaping still applies to it.
    env.filters["translated"] = i18n.gettext
    env.globals["in_place"] = IN_PLACE
    return Jinja2Templates(env=env, context_processors=[language_context])


# Jinja's i18n callables (newstyle), cheaper: its `_` looks `gettext` up and calls it through the
# context, which calls the real gettext through the context again: three calls and frames for each of
# the ninety or so messages of a page. These do the same in one call (the translation is a format string,
# marked safe when autoescaping so that only its variables are escaped), and a message without variables
# is looked up once per language.


@lru_cache(maxsize=4096)
def _marked(lang: str, message: str) -> Markup:
    with i18n.using(lang):
        return Markup(i18n.gettext(message)) % {}


@pass_eval_context
def _gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
    if not eval_ctx.autoescape:
        return i18n.gettext(message) % variables
    if not variables:
        return _marked(i18n.current_locale(), message)
    return Markup(i18n.gettext(message)) % variables


@pass_eval_context
def _ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    translated = i18n.ngettext(singular, plural, num)
    return (Markup(translated) if eval_ctx.autoescape else translated) % variables


@pass_eval_context
def _pgettext(eval_ctx: EvalContext, context: str, message: str, **variables: Any) -> str:
    variables.setdefault("context", context)
    translated = i18n.pgettext(context, message)
    return (Markup(translated) if eval_ctx.autoescape else translated) % variables


@pass_eval_context
def _npgettext(
    eval_ctx: EvalContext, context: str, singular: str, plural: str, num: int, **variables: Any
) -> str:
    variables.setdefault("context", context)
    variables.setdefault("num", num)
    translated = i18n.npgettext(context, singular, plural, num)
    return (Markup(translated) if eval_ctx.autoescape else translated) % variables


TEMPLATE_GETTEXT = {
    "_": _gettext,
    "gettext": _gettext,
    "ngettext": _ngettext,
    "pgettext": _pgettext,
    "npgettext": _npgettext,
}


def language_context(request: Request) -> dict[str, Any]:
    """`lang` for <html lang>, what the language switcher on every page needs, and whether to send only
    the page's <main> (a boosted link of the chart's navigation asked for it)."""
    return {
        "lang": i18n.current_locale(),
        "other_languages": list(i18n.other_languages()),
        "main_only": wants_main(request),
    }


# A form that answers a mistake with its page and a 400 carries these: with htmx it is posted by fetch and
# only the answer's <main> (templating.wants_main) replaces the page's, so the message and what was typed
# appear in place (htmx 4 swaps 4xx answers; 204 and 304 alone are left unswapped). A mistake's URL is
# not pushed to the history, since it names where the form posts, not a page. Without JavaScript it is an
# ordinary form and the whole page comes back.
IN_PLACE = Markup(' hx-boost="true" hx-target="#main" hx-swap="outerHTML" hx-status:4xx="push:false"')

# The chart's navigation is boosted with hx-target="#main": htmx 4 then names that target in HX-Target.
MAIN_TARGET = "main#main"


def wants_main(request: Request) -> bool:
    """A boosted link that swaps only <main>: the page's <title> and <main> (and out-of-band pieces) are
    all it needs, so the header, banner and footer are not sent again. Anything else gets the full page."""
    h = request.headers
    return (
        h.get("HX-Request") == "true"
        and h.get("HX-Boosted") == "true"
        and h.get("HX-Target") == MAIN_TARGET
        and h.get("HX-Request-Type") == "partial"
        and h.get("HX-History-Restore-Request") != "true"
    )


def wants_fragment(request: Request) -> bool:
    h = request.headers
    return (
        h.get("HX-Request") == "true"
        and h.get("HX-Boosted") != "true"  # boosted links replace the whole <body>
        and h.get("HX-History-Restore-Request") != "true"  # back button after a cache miss
        and h.get("HX-Request-Type") != "full"  # htmx 4 says so outright
    )


def render(
    request: Request,
    page: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    name = fragment if fragment and wants_fragment(request) else page
    response = templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=headers
    )
    response.headers.add_vary_header("HX-Request")
    response.headers.add_vary_header("HX-Target")
    return response


def leave_for(request: Request, url: str) -> Response:
    """Send the browser on to `url` as a whole page: a 303 for a form, and for an in-place (htmx) form
    an HX-Redirect, since fetch cannot follow a redirect to another site (a payment processor's page)."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
