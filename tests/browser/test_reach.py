"""Reach: every page, for every persona and language, passes axe, fits the byte budgets, works at 320 px,
can be used by keyboard, reads without JavaScript, and reuses cached static files on a repeat visit.

Pages are found by crawling (see reach_helpers), so a new page is checked without being listed here.
What words and lang attributes decide (axe, overflow, the page's furniture, budgets) is checked in every
language; what a page's shape decides (the keyboard walk, reading without JavaScript) once per route and
persona, in the first language that reaches it.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.browser.conftest import LiveServer
from tests.browser.reach_helpers import (
    ACCEPT_LANGUAGE,
    CSS_KINDS,
    HTML_CSS_BUDGET,
    HTML_KINDS,
    JS_BUDGET,
    JS_KINDS,
    MISSING_PAGE,
    PERSONAS,
    PageReport,
    Persona,
    crawl,
    describe,
    new_context,
)

RUNS = [(who, lang) for who in PERSONAS.values() for lang in who.languages]
RUN_IDS = [f"{who.name.replace(' ', '-')}-{lang}" for who, lang in RUNS]
WHO_IDS = [p.name.replace(" ", "-") for p in PERSONAS.values()]


class Crawls:
    """Each persona and language crawled once; every check below reads the same visits. A persona's
    languages are crawled in order, and a route walked by keyboard in one is not walked again."""

    def __init__(self, browser: Browser, server: LiveServer) -> None:
        self.browser, self.server = browser, server
        self.reports: dict[tuple[str, str], list[PageReport]] = {}
        self.cookies: dict[tuple[str, str], Any] = {}  # each crawl's sign-in

    def __call__(self, who: Persona, lang: str) -> list[PageReport]:
        if (who.name, lang) not in self.reports:
            earlier = who.languages[: who.languages.index(lang)]
            walked = frozenset(
                (r.route, r.status) for other in earlier for r in self(who, other) if r.keyboard_walked
            )
            context = new_context(self.browser, self.server, who, lang)
            try:
                self.reports[(who.name, lang)] = crawl(context, self.server, who, walked=walked)
                self.cookies[(who.name, lang)] = context.storage_state()
            finally:
                context.close()
        return self.reports[(who.name, lang)]

    def signed_in_as(self, who: Persona, lang: str) -> Any:
        """The storage state (cookies) the persona's crawl in this language was signed in with."""
        self(who, lang)
        return self.cookies[(who.name, lang)]

    def first_of_each_route(self, who: Persona) -> list[tuple[str, PageReport]]:
        """(language, page) for each route and status the persona reached, from the first language that
        reached it."""
        pages: dict[tuple[str, int], tuple[str, PageReport]] = {}
        for lang in who.languages:
            for report in self(who, lang):
                pages.setdefault((report.route, report.status), (lang, report))
        return list(pages.values())


@pytest.fixture(scope="module")
def crawled(browser, live_server) -> Crawls:
    return Crawls(browser, live_server)


@pytest.fixture(params=RUNS, ids=RUN_IDS)
def run(request, crawled):
    who, lang = request.param
    return who, lang, crawled(who, lang)


def test_crawl_finds_the_pages_and_the_error_page(run) -> None:
    who, _lang, reports = run

    routes = {report.route for report in reports}
    statuses = {report.status for report in reports}

    assert len(reports) >= 2, [r.url for r in reports]
    assert 404 in statuses, f"{MISSING_PAGE} should have been checked as the 404 page"
    if who.name == "signed out":
        assert "/login" in routes


# The pages of what patients ask for and of the staff who answer, which the crawl must reach (the
# personas' families have a thread, a refill request, visits, a bill and check-ins: add_clinic_activity).
FEATURE_PAGES = {
    "proxy": {
        "/p/{patient}/messages",
        "/p/{patient}/messages/new",
        "/p/{patient}/messages/{thread}",
        "/p/{patient}/refills",
        "/p/{patient}/medications/{medication}/refill",
        "/p/{patient}/appointments",
        "/p/{patient}/appointments/book",
        "/p/{patient}/appointments/{appointment}",
        "/p/{patient}/checkin",
        "/p/{patient}/checkin/details",
        "/p/{patient}/checkin/insurance",
        "/p/{patient}/checkin/review",
        "/p/{patient}/checkin/forms",
        "/p/{patient}/checkin/consents",
        "/p/{patient}/billing",
    },
    "staff clinician": {"/staff/inbox", "/p/{patient}/messages/{thread}", "/clinic/refills"},
    "staff front_desk": {
        "/staff/schedule",
        "/staff/schedule/requests",
        "/front-desk/registration",
        "/front-desk/registration/{patient}",
    },
    "staff billing": {"/billing/accounts", "/p/{patient}/billing/ledger"},
}


def test_crawl_reaches_each_features_pages(run) -> None:
    who, _lang, reports = run

    reached = {report.route for report in reports if report.status == 200}

    assert FEATURE_PAGES.get(who.name, set()) - reached == set()


def test_axe_finds_no_wcag_violations(run) -> None:
    _who, _lang, reports = run

    failures = describe(reports, lambda r: r.axe)

    assert failures == "", "axe-core (WCAG 2.2 A/AA) violations:\n" + failures


def test_first_visit_fits_the_byte_budgets(run) -> None:
    _who, _lang, reports = run

    def over_budget(report: PageReport) -> list[str]:
        html_css = report.bytes_of(*HTML_KINDS, *CSS_KINDS)
        js = report.bytes_of(*JS_KINDS)
        problems = []
        if html_css > HTML_CSS_BUDGET:
            problems.append(f"HTML + CSS {html_css} B on the wire > {HTML_CSS_BUDGET} B")
        if js > JS_BUDGET:
            problems.append(f"JavaScript {js} B on the wire > {JS_BUDGET} B")
        problems += [f"{t.kind} not allowed (inline SVG only): {t.url}" for t in report.others]
        return problems + report.media

    failures = describe(reports, over_budget)

    assert all(r.bytes_of("Document") > 0 for r in reports), "the page itself was not measured"
    assert failures == "", "over the byte budgets:\n" + failures


def test_no_horizontal_scroll_at_320_px(run) -> None:
    _who, _lang, reports = run

    failures = describe(reports, lambda r: r.overflow)

    assert failures == "", "wider than 320 px:\n" + failures


@pytest.mark.parametrize("who", list(PERSONAS.values()), ids=WHO_IDS)
def test_every_interactive_element_is_reachable_by_keyboard_with_visible_focus(crawled, who) -> None:
    reports = [report for _lang, report in crawled.first_of_each_route(who)]

    failures = describe(reports, lambda r: r.keyboard)

    assert [r.url for r in reports if not r.keyboard_walked] == [], "every route is walked once"
    assert failures == "", "keyboard problems:\n" + failures


def test_every_page_has_its_heading_language_switch_and_footer_in_the_readers_language(run) -> None:
    _who, lang, reports = run

    failures = describe(
        reports,
        lambda r: r.furniture + ([f'<html lang="{r.lang}">, expected "{lang}"'] if r.lang != lang else []),
    )

    assert failures == "", failures


@pytest.mark.parametrize("who", list(PERSONAS.values()), ids=WHO_IDS)
def test_every_page_reads_without_javascript(crawled, who, browser, live_server) -> None:
    """Each route's page again, with JavaScript off, signed in as the crawl was (so a page naming the
    persona's own data opens as it did, not as someone else's 404), in the language that reached it."""
    headings = {}
    for lang in who.languages:
        urls = [report.url for first, report in crawled.first_of_each_route(who) if first == lang]
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            locale=ACCEPT_LANGUAGE.get(lang, lang),
            java_script_enabled=False,
            storage_state=crawled.signed_in_as(who, lang),
        )
        try:
            page = context.new_page()
            for url in urls:
                page.goto(live_server.url + url)
                headings[url] = page.locator("h1").all_inner_texts()
        finally:
            context.close()

    broken = {url: h1 for url, h1 in headings.items() if len(h1) != 1 or not h1[0].strip()}
    assert headings and broken == {}


def test_every_form_and_control_works_without_javascript(run) -> None:
    _who, _lang, reports = run

    failures = describe(reports, lambda r: r.needs_js)

    assert failures == "", "needs JavaScript to work:\n" + failures


@pytest.mark.parametrize(("lang", "words"), [("en", "passkey"), ("es", "llave")])
def test_sign_in_page_says_passkeys_need_javascript_when_it_is_off(browser, live_server, lang, words) -> None:
    context = new_context(browser, live_server, PERSONAS["signed out"], lang, java_script_enabled=False)

    try:
        page = context.new_page()
        page.goto(live_server.url + "/login")
        without_js = page.locator("main").inner_text()
    finally:
        context.close()

    assert "JavaScript" in without_js and words in without_js


def test_sign_in_page_hides_the_javascript_note_when_javascript_is_on(page, live_server) -> None:
    page.goto(live_server.url + "/login")

    assert "JavaScript" not in page.locator("main").inner_text()


@pytest.mark.parametrize("who", list(PERSONAS.values()), ids=WHO_IDS)
def test_a_repeat_visit_fetches_no_static_file_twice(browser, live_server, crawled, who) -> None:
    first, second = (r.url for r in crawled(who, who.languages[0])[:2])
    context: BrowserContext = new_context(browser, live_server, who, who.languages[0])
    fetched: list[list[str]] = [[], []]
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        visit = 0
        from_cache: set[str] = set()
        cdp.on("Network.requestServedFromCache", lambda e: from_cache.add(e["requestId"]))

        def on_response(event) -> None:
            response = event["response"]
            cached = response.get("fromDiskCache") or event["requestId"] in from_cache
            if "/static/" in response["url"] and not cached:
                fetched[visit].append(response["url"])

        cdp.on("Network.responseReceived", on_response)
        page.goto(live_server.url + first)
        page.wait_for_load_state("load")
        visit = 1
        page.goto(live_server.url + second)
        page.wait_for_load_state("load")
    finally:
        context.close()

    assert fetched[0], "the first visit should have fetched the static files"
    assert fetched[1] == [], f"fetched again on the second page ({second}): {fetched[1]}"


def test_language_switch_works_without_javascript_and_is_remembered(browser, live_server) -> None:
    context = new_context(browser, live_server, PERSONAS["signed out"], "en", java_script_enabled=False)

    try:
        page = context.new_page()
        page.goto(live_server.url + MISSING_PAGE)
        page.get_by_role("link", name="Español").click()
        url_after_switch = page.url
        lang_after_switch = page.locator("html").get_attribute("lang")
        page.goto(live_server.url + "/login")
        lang_later = page.locator("html").get_attribute("lang")
    finally:
        context.close()

    assert url_after_switch == live_server.url + MISSING_PAGE
    assert lang_after_switch == "es" and lang_later == "es"
