"""Conditional requests: public pages revalidate with an ETag; everything else is never stored."""

from __future__ import annotations

from tests.test_foundation import assert_security_headers


def test_sign_in_page_carries_an_etag_and_may_be_kept_for_revalidation(client) -> None:
    response = client.get("/login")

    assert_security_headers(response)
    assert response.headers["etag"].startswith('W/"')
    assert response.headers["cache-control"] == "private, no-cache"


def test_sign_in_page_answers_304_when_the_browsers_copy_is_current(client) -> None:
    etag = client.get("/login").headers["etag"]

    response = client.get("/login", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "accept-language" in response.headers["vary"].lower()


def test_a_copy_in_another_language_is_not_current(client) -> None:
    etag = client.get("/login").headers["etag"]

    response = client.get("/login", headers={"If-None-Match": etag, "Accept-Language": "es"})

    assert response.status_code == 200
    assert response.headers["etag"] != etag
    assert "Entre a su portal de salud" in response.text


def test_error_pages_are_never_stored(client) -> None:
    response = client.get("/no-such-page", headers={"If-None-Match": "*"})

    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers
