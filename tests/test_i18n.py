"""Spanish and English: catalogues complete, the locale chosen per request, remembered, switchable."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import i18n
from portal.models.people import Person
from portal.views import language

ROOT = Path(__file__).parent.parent


# Staff screens may stay English: their text needs no Spanish and is not held to the patients' reading level.
STAFF_ONLY = re.compile(r"^portal/templates/(front_desk|staff|admin|clinician|audit)/")
# Words a patient should not meet unexplained.
JARGON = re.compile(
    r"\b(authenticat\w*|credentials?|webauthn|fido|phi|hipaa|ehr|fhir|csrf|http|invalid|2fa|mfa|otp|"
    r"null|exception|parameters?)\b",
    re.IGNORECASE,
)


def extracted() -> list[tuple[str, str]]:
    """(file, msgid) for every message to translate, found the way `make messages` finds them."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    return [
        (filename, message[0] if isinstance(message, tuple) else message)
        for filename, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None}
        )
    ]


def patient_facing() -> set[str]:
    return {msgid for filename, msgid in extracted() if not STAFF_ONLY.match(filename)}


def spanish_catalog():
    return i18n.catalog("es")


def is_translated(message) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def test_every_message_in_code_and_templates_has_a_spanish_translation() -> None:
    catalog = spanish_catalog()
    msgids = patient_facing()

    missing = sorted(msgid for msgid in msgids if not is_translated(catalog.get(msgid)))

    assert len(msgids) > 20  # the extraction itself works
    assert missing == [], "untranslated (run `make messages`, then translate):\n" + "\n".join(missing)


def plain_text(msgid: str) -> str:
    """The words a reader sees: no tags, no placeholders, and a full stop where a label ends."""
    text = re.sub(r"<[^>]+>|%\(\w+\)s", "", msgid).strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def syllables(word: str) -> int:
    """Vowel groups, less a silent final e: close enough for a reading-level estimate."""
    word = re.sub(r"[^a-z]", "", word.lower())
    count = len(re.findall(r"[aeiouy]+", word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(count, 1)


def grade_level(text: str) -> float:
    """Flesch-Kincaid grade level."""
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    words = re.findall(r"[A-Za-z']+", text)
    return 0.39 * len(words) / len(sentences) + 11.8 * sum(map(syllables, words)) / len(words) - 15.59


def test_grade_level_estimate_tells_plain_from_dense_text() -> None:
    plain = "Call us if you need help. We are here every day."
    dense = (
        "Authentication necessitates cryptographic credentials, consequently unauthorised "
        "individuals experience administrative complications."
    )

    assert grade_level(plain) < 6 < 12 < grade_level(dense)


def test_patient_facing_text_reads_at_grade_eight_or_below() -> None:
    texts = [plain_text(msgid) for msgid in patient_facing()]

    overall = grade_level(" ".join(texts))
    long_sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) > 25]
    dense = [t for t in texts if len(t.split()) >= 10 and grade_level(t) > 12]

    assert overall <= 8, f"reading level {overall:.1f}: use shorter words and sentences"
    assert long_sentences == [], "sentences over 25 words: split them"
    assert dense == [], "above grade 12 on their own: use shorter words"


def test_patient_facing_text_has_no_unexplained_jargon() -> None:
    found = sorted({msgid for msgid in patient_facing() if JARGON.search(plain_text(msgid))})

    assert found == [], "use everyday words instead:\n" + "\n".join(found)


def test_spanish_translations_keep_their_placeholders() -> None:
    catalog = spanish_catalog()

    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check() if errors]

    assert problems == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9", "es"),
        ("es", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR, es;q=0.5", "es"),
        ("en;q=0.4, es;q=0.9", "es"),
        ("de-DE", None),
        ("", None),
        ("es;q=0", None),
        ("garbage;;q=x,,", None),
    ],
)
def test_accept_language_is_negotiated_with_its_weights(header, expected) -> None:
    assert i18n.negotiate(header) == expected


def test_sign_in_page_follows_the_browsers_language(client) -> None:
    response = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})

    assert '<html lang="es">' in response.text
    assert "Entre a su portal de salud" in response.text
    assert "Sign in to your health portal" not in response.text


def test_pages_name_their_language_in_a_header(client) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "es"})

    assert response.headers["content-language"] == "es"


def test_a_language_the_portal_does_not_offer_falls_back_to_english(client) -> None:
    response = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"})

    assert '<html lang="en">' in response.text
    assert "Sign in to your health portal" in response.text


def test_pages_say_they_vary_on_language(client) -> None:
    response = client.get("/login")

    vary = {part.strip().lower() for part in response.headers["vary"].split(",")}
    assert {"accept-language", "cookie"} <= vary


def test_static_files_do_not_vary_on_cookies(client) -> None:
    page = client.get("/login").text
    css = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]

    response = client.get(css)

    assert "cookie" not in response.headers.get("vary", "").lower()


def test_switching_language_remembers_it_and_goes_back_to_the_page(client) -> None:
    response = client.get(
        "/language?lang=es", headers={"Referer": "https://localhost:8000/login"}, follow_redirects=False
    )
    page = client.get("/login", headers={"Accept-Language": "en"})

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert "portal_lang=es" in response.headers["set-cookie"]
    assert "Max-Age=" in response.headers["set-cookie"]
    assert '<html lang="es">' in page.text


def test_the_remembered_choice_beats_the_browsers_language(client) -> None:
    client.cookies.set(i18n.COOKIE, "en")

    response = client.get("/login", headers={"Accept-Language": "es"})

    assert '<html lang="en">' in response.text


def test_a_language_not_offered_is_not_remembered(client) -> None:
    response = client.get("/language?lang=xx", follow_redirects=False)

    assert response.status_code == 303
    assert not any(c.startswith(i18n.COOKIE) for c in response.headers.get_list("set-cookie"))


def test_every_page_links_to_the_other_language_without_echoing_its_path(client) -> None:
    english = client.get("/no/such/page/12345").text
    spanish = client.get("/login", headers={"Accept-Language": "es"}).text

    assert 'href="/language?lang=es"' in english and 'lang="es"' in english
    assert 'href="/language?lang=en"' in spanish
    assert "12345" not in english


def test_switching_goes_back_to_a_local_next_path_with_its_query(client) -> None:
    response = client.get("/language?lang=es&next=/login%3Fa%3D1", follow_redirects=False)

    assert response.headers["location"] == "/login?a=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/%5Cevil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/login%0d%0aSet-Cookie:%20x=1",
        "/%09/evil.example",
        "evil.example",
    ],
)
def test_switching_never_redirects_off_the_site(client, target) -> None:
    response = client.get(f"/language?lang=es&next={target}", follow_redirects=False)

    # Control characters in a query are refused outright (portal.security.inputs); the rest go home.
    refused = "%0d" in target or "%09" in target
    assert response.status_code == (400 if refused else 303)
    assert response.headers.get("location") == (None if refused else "/")


def test_a_referer_from_another_site_sends_the_reader_to_the_start_page(client) -> None:
    response = client.get(
        "/language?lang=es", headers={"Referer": "https://evil.example/login"}, follow_redirects=False
    )

    assert response.headers["location"] == "/"


def test_error_pages_are_translated(client) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "es"})

    assert response.status_code == 404
    assert "No encontramos esa página" in response.text
    assert "Ir a la página de inicio" in response.text


def test_footer_names_whom_to_call_and_911_in_both_languages(client) -> None:
    english = client.get("/login").text
    spanish = client.get("/login", headers={"Accept-Language": "es"}).text

    assert 'href="tel:555-0100"' in english and 'href="tel:911"' in english
    assert "In an emergency, call" in english
    assert "Llame a Riverside Family Clinic" in spanish and "En una emergencia, llame al" in spanish


def test_sign_in_page_says_what_the_portal_is_for_and_that_passkeys_need_javascript(client) -> None:
    page = client.get("/login").text

    assert "message your care team" in page and "refills" in page
    assert "<noscript>" in page and "JavaScript" in page.split("<noscript>", 1)[1]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", ["Mar 4, 2026", "1,234.5", "$12.00", "12.5"]), ("es", ["4 mar 2026", "1,234.5", "$12.00", "kg"])],
)
def test_dates_numbers_money_and_units_follow_the_reader(lang, expected) -> None:
    with i18n.using(lang):
        shown = [
            i18n.format_date(date(2026, 3, 4)),
            i18n.format_number(1234.5),
            i18n.format_currency(12),
            i18n.format_unit(12.5, "mass-kilogram"),
        ]

    assert all(e in s for e, s in zip(expected, shown, strict=True)), shown


def test_datetimes_are_shown_in_the_zone_asked_for() -> None:
    moment = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)

    with i18n.using("es"):
        shown = i18n.format_datetime(moment, "short", tz="America/Chicago")

    assert "9:30" in shown and "a.m." in shown


def test_template_filters_format_in_the_requests_locale(app) -> None:
    templates = app.state.templates
    template = templates.env.from_string("{{ d|date('long') }} {{ n|number(1) }}")

    with i18n.using("es"):
        shown = template.render(d=date(2026, 3, 4), n=37.25)

    assert shown == "4 de marzo de 2026 37.2"


class SignedIn:
    """Stands in for the session middleware: puts a person in the request state."""

    def __init__(self, app, person) -> None:
        self.app = app
        self.person = person

    async def __call__(self, scope, receive, send) -> None:
        scope.setdefault("state", {})["person"] = self.person
        await self.app(scope, receive, send)


async def shown_language(request):
    return PlainTextResponse(i18n.current_locale())


def signed_in_client(app, person) -> TestClient:
    """The language route and middleware around a signed-in person, on the test database."""
    signed_in = Starlette(
        routes=[*language.routes, Route("/shown", shown_language)],
        middleware=[
            Middleware(i18n.LocaleMiddleware),
            Middleware(SignedIn, person=person),
            Middleware(i18n.SavedLocale),
        ],
    )
    signed_in.state.settings = app.state.settings
    signed_in.state.engine = app.state.engine
    return TestClient(signed_in, base_url="https://localhost:8000")


def test_a_signed_in_persons_saved_language_applies_on_any_browser(app, session) -> None:
    person = Person(display_name="Test Person", locale="es")
    session.add(person)
    session.commit()

    with signed_in_client(app, person) as client:
        response = client.get("/shown", headers={"Accept-Language": "en"})

    assert response.text == "es"


def test_this_browsers_own_choice_beats_the_saved_language(app, session) -> None:
    person = Person(display_name="Test Person", locale="es")
    session.add(person)
    session.commit()

    with signed_in_client(app, person) as client:
        client.cookies.set(i18n.COOKIE, "en")
        response = client.get("/shown")

    assert response.text == "en"


def test_switching_language_while_signed_in_saves_it_for_the_person(app, session) -> None:
    person = Person(display_name="Test Person")
    session.add(person)
    session.commit()

    with signed_in_client(app, person) as client:
        client.get("/language?lang=es", follow_redirects=False)

    session.refresh(person)
    assert person.locale == "es"


def test_a_feature_keeps_its_words_in_its_own_catalogue_file(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    (folder / "messages.po").write_text(header + 'msgid "Hello"\nmsgstr "Hola"\n\nmsgid "Later"\nmsgstr ""\n')
    (folder / "feature.po").write_text(
        header + 'msgid "Later"\nmsgstr "Luego"\n\nmsgid "Hello"\nmsgstr "Otra"\n'
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)

    catalog = i18n.catalog("es")

    assert catalog.get("Hello").string == "Hola"  # the first translation found wins
    assert catalog.get("Later").string == "Luego"  # an empty one is filled from the feature's file
