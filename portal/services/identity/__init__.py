"""Who you are: one module per way in, each a set of functions that take the caller's session.

- `codes`: one-time codes (activation, enrolment, invitations), activation itself, and the one step that
  claims a code and verifies the new passkey, shared by activation and staff enrolment.
- `signin`: passkey sign-in, opening and ending sessions.
- `devices`: the person's passkeys (list, add, rename, remove) and the step-up check before changing them.
- `passwords`: the fallback password and the one-time code mailed after it.
- `recovery`: single-use recovery codes.
- `people`: creating accounts (staff and proxies), enrolment links, staff resets.
- `account`: the account page's summary and the person's sessions.
- `front_desk`: the front desk's patient search, activation codes and sign-in resets.
- `common`: what they share (audit events, rate-limit refusals).

Every function takes the caller's session and never commits: `run_db` makes each call one transaction,
so an identity event and its audit event are written together. A failed attempt *returns* a `Refused`
(portal.services.errors) instead of raising it, so that the counters it bumped (wrong tries, rate limits)
are committed too; a request that changes nothing when refused raises it. Either way the refusal carries
a code, and the views choose the words.
"""
