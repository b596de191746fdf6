"""The reach checks' machinery: personas, a crawler that finds every page, and the per-page measurements.

Adding a persona is one decorated function here: it signs a fresh browser context in (a session row plus
its signed cookie, written straight to the live server's database: see `sign_in_as`) and names the pages
to start from. Every page reachable from those, and every GET route without path parameters, is then
crawled and checked for that persona; nothing else lists pages. For example::

    @persona("patient with a teen", languages=("en", "es"), requires=(SESSIONS, ACCESS))
    def parent_of_a_teen(server: LiveServer, context: BrowserContext) -> None:
        with Session(server.engine) as db_session, db_session.begin():
            parent = add_person(db_session, "Ana Reyes")
            teen = add_patient(db_session, "Leo", "Reyes", years_ago(14))
            add_proxy_grant(db_session, parent, teen)
            parent_id = parent.id
        sign_in_as(server, context, parent_id)

`requires` names the modules a persona needs; until they exist the persona is simply not registered.
A sign-in may return more pages to start from, for pages that name the persona's own data (a child's
messages, a ledger that staff reach through a search form).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from importlib.util import find_spec
from typing import Any
from urllib.parse import urldefrag, urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Response, ViewportSize
from playwright.sync_api import Error as PlaywrightError
from sqlmodel import Session
from starlette.routing import Match, Route

from portal.models.base import new_public_id
from portal.models.people import Patient, Person
from tests.browser.conftest import LiveServer

HTML_CSS_BUDGET = 14 * 1024  # fits a new connection's first round trip
JS_BUDGET = 20 * 1024
PAGE_CAP = 80  # pages per persona and language; raise it when the portal outgrows it
NARROW_WIDTH = 320
VIEWPORT: ViewportSize = {"width": 390, "height": 844}  # a phone's, where every visit starts
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MISSING_PAGE = "/this-page-does-not-exist"  # so the 404 page is checked like any other
ACCEPT_LANGUAGE = {"en": "en-US", "es": "es-US"}
# CDP resource types: an htmx fragment fetched while the page loads counts as part of the page's HTML.
HTML_KINDS = ("Document", "XHR", "Fetch")
CSS_KINDS = ("Stylesheet",)
JS_KINDS = ("Script",)

# Links the crawler must not follow: files, and anything that changes state on a GET (the language
# switcher sets a cookie; signing out ends the session the crawl runs in).
SKIP_PATH = re.compile(r"^/(static/|language\b|healthz\b)|/(log-?out|sign-?out)\b", re.IGNORECASE)
SKIP_SUFFIX = (".pdf", ".ics", ".csv", ".json", ".ndjson", ".zip", ".xml", ".txt")

SignIn = Callable[[LiveServer, BrowserContext], tuple[str, ...] | None]
# The start pages a context's sign-in returned, by context: the crawl begins with them.
START_PAGES: dict[int, tuple[str, ...]] = {}


@dataclass(frozen=True)
class Persona:
    name: str
    sign_in: SignIn
    entry: tuple[str, ...]
    languages: tuple[str, ...]


PERSONAS: dict[str, Persona] = {}


SESSIONS = "portal.security.sessions"
ACCESS = "portal.models.access"
STAFF_ROLES = ("front_desk", "clinician", "billing", "admin")


def persona(
    name: str,
    *,
    entry: tuple[str, ...] = ("/",),
    languages: tuple[str, ...] = ("en",),
    requires: tuple[str, ...] = (),
) -> Any:
    """Register a persona: staff screens may stay English, patient-facing personas add "es"."""

    def register(sign_in: SignIn) -> SignIn:
        if all(find_spec(module) is not None for module in requires):
            PERSONAS[name] = Persona(name, sign_in, (*entry, MISSING_PAGE), languages)
        return sign_in

    return register


def add_cookie(context: BrowserContext, server: LiveServer, name: str, value: str) -> None:
    context.add_cookies([{"name": name, "value": value, "url": server.url}])


def sign_in_as(server: LiveServer, context: BrowserContext, person_id: int | None) -> None:
    """Open a session row for the person and give the browser its signed cookie."""
    from portal.security import sessions

    assert person_id is not None
    with Session(server.engine) as db_session, db_session.begin():
        login = sessions.open_session(
            db_session, person_id=person_id, method="test", settings=server.settings
        )
        token = sessions.sign(server.settings, login.id)
    add_cookie(context, server, sessions.COOKIE, token)


def years_ago(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


def add_person(db_session: Session, name: str, **fields: Any) -> Person:
    person = Person(display_name=name, email=f"{new_public_id()}@example.org", **fields)
    db_session.add(person)
    db_session.flush()
    return person


def add_patient(
    db_session: Session, given: str, family: str, birth_date: date, person: Person | None = None
) -> Patient:
    patient = Patient(
        fhir_id=new_public_id(),
        given_name=given,
        family_name=family,
        birth_date=birth_date,
        person_id=person.id if person else None,
    )
    db_session.add(patient)
    db_session.flush()
    return patient


def add_proxy_grant(
    db_session: Session, proxy: Person, patient: Patient, relationship: str = "parent"
) -> None:
    from portal.models.access import ProxyGrant

    assert patient.birth_date is not None
    grant = ProxyGrant(
        proxy_person_id=proxy.id,
        patient_id=patient.id,
        relationship=relationship,
        starts_on=patient.birth_date,
    )
    db_session.add(grant)
    db_session.flush()


def add_clinic_activity(
    server: LiveServer, parent_id: int | None, child_id: int | None, *, submitted: bool
) -> None:
    """What a family asks the clinic for, on one child's record, so each feature's pages have something
    to show: a message thread, a refill request, a visit today and one ahead, a request for a visit, a
    bill, and a visit to check in for (the check-in sent to the front desk when `submitted`). Written as
    the feature tests write them (their helpers), on the demo calendar."""
    from datetime import UTC, datetime, timedelta

    from portal.models import CheckIn, Encounter, FhirResource, RefillRequest
    from portal.models.scheduling import AppointmentRequest
    from portal.services.scheduling.seed import seed_calendar
    from tests.billing_data import add_bill
    from tests.messaging_helpers import add_thread
    from tests.refill_helpers import make_medication
    from tests.scheduling_helpers import booked_visit

    assert parent_id is not None and child_id is not None
    settings = server.settings
    with Session(server.engine) as db_session:
        child = db_session.get(Patient, child_id)
        assert child is not None
        seed_calendar(
            db_session, tz=settings.timezone, today=settings.today(), video_url="https://video.example/room"
        )
        add_thread(db_session, child, "A rash on the arm", confidential=False)
        medicine = make_medication(db_session, child, code="745679", display="Albuterol inhaler")  # commits
        db_session.add(
            RefillRequest(
                patient_id=child_id,
                medication_id=medicine.id,
                days_left=3,
                pharmacy_other="Corner Pharmacy, 5 Elm Street",
                requested_by_person_id=parent_id,
            )
        )
        today = booked_visit(db_session, child, days_ahead=0)
        booked_visit(db_session, child, days_ahead=10, reason="Cough for a week")
        db_session.add(
            AppointmentRequest(
                patient_id=child_id,
                visit_type_id=today.visit_type_id,
                preferred="Mornings",
                requested_by_person_id=parent_id,
            )
        )
        add_bill(db_session, child)
        start = datetime.now(UTC) + timedelta(days=2)
        resource = FhirResource(
            resource_type="Encounter",
            fhir_id=f"enc-{child.fhir_id}"[:64],
            patient_id=child_id,
            content_hash="0" * 64,
            resource_json="{}",
        )
        db_session.add(resource)
        db_session.flush()
        db_session.add(
            Encounter(
                resource_id=resource.id,
                patient_id=child_id,
                fhir_id=resource.fhir_id,
                display="Well child visit",
                status="planned",
                start_at=start,
            )
        )
        if submitted:
            db_session.add(
                CheckIn(
                    patient_id=child_id,
                    visit_key=f"encounter:{resource.id}",
                    encounter_resource_id=resource.id,
                    visit_start=start,
                    status="submitted",
                    steps_done="details,insurance,review,forms,consents",
                    started_by_person_id=parent_id,
                    submitted_at=datetime.now(UTC),
                )
            )
        db_session.commit()


@persona("signed out", entry=("/", "/login"), languages=("en", "es"))
def signed_out(server: LiveServer, context: BrowserContext) -> tuple[str, ...] | None:
    """Nobody signed in: the sign-in page, activation, error pages."""


@persona("patient", languages=("en", "es"), requires=(SESSIONS,))
def patient(server: LiveServer, context: BrowserContext) -> tuple[str, ...] | None:
    """An adult who sees their own record."""
    with Session(server.engine) as db_session, db_session.begin():
        person = add_person(db_session, "Rosa Alvarez")
        add_patient(db_session, "Rosa", "Alvarez", years_ago(34), person)
        person_id = person.id
    sign_in_as(server, context, person_id)
    return None


@persona("proxy", languages=("en", "es"), requires=(SESSIONS, ACCESS))
def proxy(server: LiveServer, context: BrowserContext) -> tuple[str, ...] | None:
    """A parent with their own record and two children's: one under 12, one teenager."""
    with Session(server.engine) as db_session, db_session.begin():
        parent = add_person(db_session, "Marta Lopez")
        add_patient(db_session, "Marta", "Lopez", years_ago(38), parent)
        children = [
            add_patient(db_session, given, "Lopez", years_ago(age))
            for given, age in (("Sofia", 6), ("Diego", 14))
        ]
        for child in children:
            add_proxy_grant(db_session, parent, child)
        person_id, sofia_id, sofia = parent.id, children[0].id, children[0].public_id
    add_clinic_activity(server, person_id, sofia_id, submitted=False)
    sign_in_as(server, context, person_id)
    # Sofia's pages first, so each kind of page is checked where it has something to show.
    return tuple(f"/p/{sofia}/{section}" for section in ("messages", "refills", "appointments", "checkin"))


def staff_member(server: LiveServer, context: BrowserContext, *, role: str) -> tuple[str, ...] | None:
    """A staff member, with a family's requests waiting in the clinic's queues."""
    with Session(server.engine) as db_session, db_session.begin():
        person_id = add_person(db_session, f"Staff {role}", staff_role=role).id
        parent = add_person(db_session, "Lena Ortiz")
        child = add_patient(db_session, "Mateo", "Ortiz", years_ago(4))
        add_proxy_grant(db_session, parent, child)
        parent_id, child_id, mateo = parent.id, child.id, child.public_id
    add_clinic_activity(server, parent_id, child_id, submitted=True)
    sign_in_as(server, context, person_id)
    # The billing office reaches a ledger through its search form, which the crawl does not fill in.
    return (f"/p/{mateo}/billing/ledger",) if role == "billing" else None


for staff_role in STAFF_ROLES:
    persona(f"staff {staff_role}", requires=(SESSIONS,))(partial(staff_member, role=staff_role))


def new_context(
    browser: Browser, server: LiveServer, who: Persona, lang: str, **options: Any
) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORT, locale=ACCEPT_LANGUAGE.get(lang, lang), **options)
    START_PAGES[id(context)] = tuple(who.sign_in(server, context) or ())
    return context


# --- what one visit to one page measured ------------------------------------------------------


@dataclass
class Transfer:
    url: str
    kind: str  # CDP resource type: Document, Stylesheet, Script, Image, Font...
    bytes: int  # on the wire: compressed body plus headers


@dataclass
class PageReport:
    url: str
    route: str
    status: int
    lang: str = ""
    transfers: list[Transfer] = field(default_factory=list)
    axe: list[str] = field(default_factory=list)
    keyboard: list[str] = field(default_factory=list)
    keyboard_walked: bool = False  # a route's walk is done once per persona (see `crawl`)
    overflow: list[str] = field(default_factory=list)
    needs_js: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)  # images, fonts, frames: inline SVG only
    furniture: list[str] = field(default_factory=list)  # what every page must offer

    def bytes_of(self, *kinds: str) -> int:
        return sum(t.bytes for t in self.transfers if t.kind in kinds)

    @property
    def others(self) -> list[Transfer]:
        return [t for t in self.transfers if t.kind not in (*HTML_KINDS, *CSS_KINDS, *JS_KINDS)]


def route_of(server: LiveServer, path: str) -> str:
    """The route pattern a path belongs to ("/records/{id}"), so each kind of page is checked once."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    for route in server.app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL and isinstance(route, Route):
            return route.path
    return "(no route)"


def seed_paths(server: LiveServer, who: Persona, start: tuple[str, ...] = ()) -> list[str]:
    """The persona's entry pages and its sign-in's start pages, then every GET route that needs no path
    parameter."""
    routes = [
        route.path
        for route in server.app.routes
        if isinstance(route, Route)
        and "{" not in route.path
        and "GET" in (route.methods or ())
        and not SKIP_PATH.search(route.path)
    ]
    return list(dict.fromkeys([*who.entry, *start, *routes]))


def crawl(
    context: BrowserContext,
    server: LiveServer,
    who: Persona,
    *,
    cap: int = PAGE_CAP,
    walked: frozenset[tuple[str, int]] = frozenset(),
) -> list[PageReport]:
    """Visit and measure every page the persona can reach, one page per route pattern, all in one tab.

    The keyboard walk follows a page's controls, which its route decides, not its language: routes in
    `walked` (route, status), already walked for this persona in another language, are not walked again."""
    queue = seed_paths(server, who, START_PAGES.get(id(context), ()))
    queued = set(queue)
    seen_routes: set[tuple[str, int]] = set()
    reports: list[PageReport] = []
    tab = Tab(context)
    try:
        while queue and len(reports) < cap:
            path = queue.pop(0)
            if (route_of(server, path), 0) in seen_routes:
                continue
            report, links = visit(tab, server, path, walk_keyboard=lambda key: key not in walked)
            if report is None:
                continue
            key = (report.route, report.status)
            if key in seen_routes:
                continue
            seen_routes.add(key)
            seen_routes.add((route_of(server, path), 0))
            reports.append(report)
            for link in links:
                if link not in queued:
                    queued.add(link)
                    queue.append(link)
    finally:
        tab.close()
    return reports


class Tab:
    """One browser tab a whole crawl navigates, so a visit costs a navigation, not a new tab and renderer.

    Its CDP listeners are attached once and note each response's loader (one per document), so a visit
    counts only what its own document fetched, even while the page before it finishes a request. The cache
    stays disabled, so every visit loads as a first visit does. Each visit is a new document (crawled paths
    carry no fragment), which leaves no focus, scroll position, open <details> or injected script behind;
    what the tab itself keeps, the viewport the 320 px check narrows, is reset before each visit, and a
    dialog is dismissed, as in a new tab."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.page.on("dialog", lambda dialog: dialog.dismiss())
        cdp = context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit, every time
        self.started: dict[str, str] = {}  # request id: loader id, from the moment a request is sent
        self.responses: dict[str, tuple[str, str, str]] = {}  # request id: (CDP type, URL, loader id)
        self.sizes: dict[str, int] = {}  # request id: bytes on the wire
        self.failed: set[str] = set()
        cdp.on("Network.requestWillBeSent", lambda e: self.started.update({e["requestId"]: e["loaderId"]}))
        cdp.on(
            "Network.responseReceived",
            lambda e: self.responses.update(
                {e["requestId"]: (e["type"], e["response"]["url"], e["loaderId"])}
            ),
        )
        cdp.on(
            "Network.loadingFinished",
            lambda e: self.sizes.update({e["requestId"]: int(e["encodedDataLength"])}),
        )
        cdp.on("Network.loadingFailed", lambda e: self.failed.add(e["requestId"]))

    def open(self, url: str) -> Response | None:
        """Navigate to a page as a first visit: at a phone's viewport, with nothing counted yet."""
        if self.page.viewport_size != VIEWPORT:
            self.page.set_viewport_size(VIEWPORT)
        for seen in (self.started, self.responses, self.sizes, self.failed):
            seen.clear()
        return self.page.goto(url)

    def transfers(self) -> list[Transfer]:
        """What the current document fetched, once the requests it started by its load event and the next
        frame have finished (or three seconds), as a script fetching on load does."""
        loaders = [
            loader
            for kind, url, loader in self.responses.values()
            if kind == "Document" and url == self.page.url
        ]

        def own(requests: dict[str, Any]) -> dict[str, Any]:
            # Without its document's response (never seen so far), count everything this visit saw.
            return {
                request_id: about
                for request_id, about in requests.items()
                if not loaders or (about if isinstance(about, str) else about[2]) == loaders[-1]
            }

        self.page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done)))")
        deadline = time.monotonic() + 3
        while set(own(self.started)) - set(self.sizes) - self.failed and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        return [
            Transfer(url, kind, self.sizes.get(request_id, 0))
            for request_id, (kind, url, _loader) in own(self.responses).items()
            if not url.startswith("data:")
        ]

    def close(self) -> None:
        self.page.close()


def visit(
    tab: Tab,
    server: LiveServer,
    path: str,
    *,
    walk_keyboard: Callable[[tuple[str, int]], bool] = lambda _key: True,
) -> tuple[PageReport | None, list[str]]:
    """Open one page in the tab as a first visit and measure it; `walk_keyboard` says, by (route, status),
    whether to walk it by keyboard too."""
    page = tab.page
    try:
        response = tab.open(server.url + path)
    except PlaywrightError:  # a download or another non-page answer
        return None, []
    if response is None or "text/html" not in response.headers.get("content-type", ""):
        return None, []
    transfers = tab.transfers()
    final = urlsplit(page.url)
    report = PageReport(
        url=final.path + ("?" + final.query if final.query else ""),
        route=route_of(server, final.path),
        status=response.status,
        lang=page.evaluate("document.documentElement.lang"),
        transfers=transfers,
    )
    report.media = page.evaluate(MEDIA)
    report.furniture = page.evaluate(FURNITURE)
    report.axe = axe_violations(page)
    if walk_keyboard((report.route, report.status)):
        report.keyboard = keyboard_problems(page)
        report.keyboard_walked = True
    report.needs_js = javascript_only_controls(page)
    report.overflow = narrow_overflow(page)
    return report, same_origin_links(page, server)


def same_origin_links(page: Page, server: LiveServer) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download]):not([rel~=nofollow])", "links => links.map(a => a.href)"
    )
    found = []
    for href in hrefs:
        url = urlsplit(urldefrag(href).url)
        if f"{url.scheme}://{url.netloc}" != server.url:
            continue
        if SKIP_PATH.search(url.path) or url.path.lower().endswith(SKIP_SUFFIX):
            continue
        found.append(url.path + ("?" + url.query if url.query else ""))
    return found


# Pictures, frames and web fonts, even inline as data: URLs: pages use inline SVG and system fonts only.
MEDIA = """() => [
  ...[...document.querySelectorAll('img, picture, video, audio, iframe, object, embed, image')]
    .map(el => `<${el.tagName.toLowerCase()}> element: ${el.outerHTML.slice(0, 80)}`),
  ...[...document.fonts].map(font => `web font: ${font.family}`),
]"""


# Every page: one <h1>, the language switch, and a footer saying whom to call and that emergencies go to 911.
FURNITURE = """() => {
  const missing = [];
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) missing.push(`${h1} <h1> elements, expected one`);
  if (!document.querySelector('a[href^="/language?lang="]')) missing.push('no language switch');
  const footer = document.querySelector('footer');
  if (!footer || !footer.querySelector('a[href="tel:911"]')) missing.push('no 911 line in the footer');
  if (!footer || !footer.querySelector('a[href^="tel:"]:not([href="tel:911"])'))
    missing.push("no clinic phone number in the footer");
  return missing;
}"""


# --- the checks ---------------------------------------------------------------------------------


def axe_violations(page: Page) -> list[str]:
    # Only violations come back in full: the passes' nodes are most of axe's answer, and nobody reads them.
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    problems = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            rule = f"{violation['id']} ({violation['impact']}): {violation['help']}"
            problems.append(f"{rule} at {node['target']}: {summary}")
    return problems


FOCUSABLE = """() => {
  const selector = 'a[href], area[href], button, input:not([type=hidden]), select, textarea, summary, '
    + 'iframe, [tabindex], [contenteditable=""], [contenteditable=true]';
  const all = [...document.querySelectorAll(selector)].filter(el =>
    !el.disabled && el.tabIndex >= 0 && !el.closest('[inert]') && el.getClientRects().length > 0
    && !el.closest('details:not([open]) > :not(summary)')
    && getComputedStyle(el).visibility !== 'hidden');
  all.forEach((el, i) => el.setAttribute('data-reach-focus', String(i)));
  document.activeElement && document.activeElement.blur();
  // A radio group is one Tab stop (arrow keys move inside it): name each radio's group.
  const group = el => el.type === 'radio' && el.name
    ? `${el.form ? [...document.forms].indexOf(el.form) : -1}:${el.name}` : null;
  return all.map(el => [el.outerHTML.slice(0, 80), group(el)]);
}"""

# Records each focus move as it happens, so a walk needs one browser round trip per Tab press, not two: the
# element (its data-reach-focus number), whether its focus shows (outline or shadow, on screen), and null
# when focus leaves the page. A date field's parts share one element, so moving between them adds nothing.
FOCUS_LOG = """() => {
  const log = window.__reachFocus = [];
  document.addEventListener('focusin', event => {
    const el = event.target;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow && style.boxShadow !== 'none';
    const box = el.getBoundingClientRect();
    const onScreen = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0;
    log.push({
      id: el.getAttribute('data-reach-focus'),
      visible: Boolean(outline || shadow) && onScreen,
      html: el.outerHTML.slice(0, 80),
    });
  }, true);
  document.addEventListener('focusout', event => { if (!event.relatedTarget) log.push(null); }, true);
}"""


def follow_focus(log: list[dict[str, Any] | None]) -> tuple[list[str], list[str], bool]:
    """The elements reached in order, the problems seen, and whether the walk is over (focus left the
    page, or came back round to an element already reached)."""
    reached: list[str] = []
    problems = []
    for focused in log:
        if focused is None:
            return reached, problems, True
        if focused["id"] is None:
            problems.append(f"focus went to an element that is not interactive: {focused['html']}")
            continue
        if reached and focused["id"] == reached[-1]:
            continue  # still inside the same control
        if focused["id"] in reached:
            return reached, problems, True  # back to the start: the whole page has been walked
        reached.append(focused["id"])
        if not focused["visible"]:
            problems.append(f"no visible focus indicator on {focused['html']}")
    return reached, problems, False


def keyboard_problems(page: Page) -> list[str]:
    """Tab through the page with real key presses: every interactive element must get focus, and show it.

    Disclosures (<details>, such as the record switcher) are opened first: their contents are reached by
    keyboard after pressing Enter on the summary, which is itself checked like any other control. The
    focus log is read after a round of presses long enough for the whole page, and again after each
    further round until the walk is over."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    elements: list[list[str | None]] = page.evaluate(FOCUSABLE)  # [html, radio group or None]
    page.evaluate(FOCUS_LOG)
    most = 3 * len(elements) + 3  # a date field takes a Tab per part (month, day, year)
    pressed = 0
    while True:
        for _ in range(min(len(elements) + 2, most - pressed)):
            page.keyboard.press("Tab")
            pressed += 1
        reached, problems, over = follow_focus(page.evaluate("() => window.__reachFocus"))
        if over or pressed >= most:
            break
    groups_reached = {elements[int(i)][1] for i in reached if int(i) < len(elements)} - {None}
    problems += [
        f"never reached by Tab: {html}"
        for i, (html, group) in enumerate(elements)
        if str(i) not in reached and group not in groups_reached
    ]
    return problems


# Forms and controls that could only work with JavaScript. A passkey ceremony needs it by nature: such
# forms are marked data-passkey (or data-needs-js) and the page says so in a <noscript>.
JAVASCRIPT_ONLY = """() => {
  const exempt = el => el.closest('[data-passkey], [data-needs-js]');
  const short = el => el.outerHTML.slice(0, 100);
  const problems = [];
  for (const form of document.querySelectorAll('form')) {
    if (exempt(form)) continue;
    const submit = form.querySelector(
      'button:not([type=button]):not([type=reset]), input[type=submit], input[type=image]');
    if (!submit) problems.push(`form with no submit button: ${short(form)}`);
    if (form.method === 'post' && !form.querySelector('input[type=hidden][name=csrf_token]'))
      problems.push(`POST form without the csrf_token field: ${short(form)}`);
    if (!form.getAttribute('action') && !form.hasAttribute('method'))
      problems.push(`form with neither action nor method: ${short(form)}`);
  }
  const verbs = ['hx-get', 'hx-post', 'hx-put', 'hx-patch', 'hx-delete'];
  for (const el of document.querySelectorAll(verbs.map(v => `[${v}]`).join(','))) {
    if (exempt(el) || el.matches('a[href], form[action]') || el.closest('form[action]')) continue;
    problems.push(`works only with JavaScript (give it an href or put it in a form): ${short(el)}`);
  }
  return problems;
}"""


def javascript_only_controls(page: Page) -> list[str]:
    return list(page.evaluate(JAVASCRIPT_ONLY))


WIDER_THAN_VIEWPORT = """() => {
  const root = document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth <= width) return [];
  const culprits = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5
      || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'))
    .slice(-5)
    .map(el => `too wide: ${el.outerHTML.slice(0, 80)}`);
  return [`the page is ${root.scrollWidth}px wide`, ...culprits];
}"""


def narrow_overflow(page: Page) -> list[str]:
    """At 320 px wide nothing may need a horizontal scroll; the culprits, if anything does."""
    page.set_viewport_size({"width": NARROW_WIDTH, "height": 720})
    return list(page.evaluate(WIDER_THAN_VIEWPORT))


def describe(reports: list[PageReport], problems: Callable[[PageReport], list[str]]) -> str:
    """One readable block per failing page."""
    lines = []
    for report in reports:
        found = problems(report)
        if found:
            lines.append(f"{report.url} ({report.route}, {report.status}):")
            lines += [f"    {p}" for p in found]
    return "\n".join(lines)
