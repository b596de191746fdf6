"""What each identity refusal says to the person: the service names the reason, this module the words."""

from __future__ import annotations

from starlette.responses import JSONResponse

from portal.i18n import N_, gettext, ngettext
from portal.services.errors import Refused

RATE_LIMITED = "rate_limited"

MESSAGES = {
    "bad_activation": N_(
        "That activation code and date of birth don't match a code we can use. Check both and try again. "
        "Codes work once, for 30 days, and stop after five wrong tries: "
        "the front desk can give you a new one."
    ),
    "passkey_failed": N_("We couldn't check that passkey. Please try again, or ask the clinic for help."),
    "bad_recovery_code": N_(
        "That recovery code didn't work. Check it and try again; each code works only once."
    ),
    "bad_password": N_("That email address and password don't match. Please try again."),
    "bad_mail_code": N_("That code didn't work. Check the latest email from us and try again."),
    "bad_enrolment": N_(
        "This enrolment link can't be used: it may be old or already used. Ask the clinic for a new one."
    ),
    "step_up_needed": N_("Please confirm it's you with your passkey first, then try again."),
    "passkey_not_yours": N_("That passkey is not on your account."),
    "only_passkey": N_(
        "This is your only passkey. Make recovery codes first, or add another passkey, so you can "
        "still sign in."
    ),
    "passkey_name_missing": N_("Please give the passkey a name."),
    "password_too_short": N_("Please use at least %(num)d characters."),
    "password_too_long": N_("Please use at most %(num)d characters."),
    "password_common": N_("That password is too common or too easy to guess. Please choose another."),
    "email_invalid": N_("Please enter a valid email address."),
    "email_taken": N_("That email address can't be used. Please use another."),
    "patient_deceased": N_(
        "This patient is recorded as deceased, so the portal does not offer them an account."
    ),
}


def refusal_message(refusal: Refused) -> str:
    """The refusal in the reader's language, its parameters (minutes, lengths) filled in."""
    if refusal.code == RATE_LIMITED:
        minutes = int(str(refusal.params["minutes"]))
        return ngettext(
            "Too many tries. Please wait %(num)d minute, then try again.",
            "Too many tries. Please wait %(num)d minutes, then try again.",
            minutes,
        ) % {"num": minutes}
    return gettext(MESSAGES[refusal.code]) % refusal.params


def refusal_status(refusal: Refused) -> int:
    return 429 if refusal.code == RATE_LIMITED else 400


def retry_headers(refusal: Refused) -> dict[str, str] | None:
    """`Retry-After` for too many tries."""
    if refusal.code != RATE_LIMITED:
        return None
    return {"Retry-After": str(int(str(refusal.params["minutes"])) * 60)}


def refused_json(refusal: Refused) -> JSONResponse:
    """The refusal as passkeys.js reads it: {"error": message}, 400 or 429."""
    return JSONResponse(
        {"error": refusal_message(refusal)},
        status_code=refusal_status(refusal),
        headers=retry_headers(refusal),
    )
