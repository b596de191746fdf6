"""The application factory: nothing runs at import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute

from portal import db, i18n
from portal.assets import Assets
from portal.config import Settings
from portal.request_log import BodyLimit, CanonicalHost, Compress, RequestLog, route_body_limits
from portal.security.csrf import CSRFMiddleware
from portal.security.forwarded import forwarded_middleware
from portal.security.headers import SecurityHeaders
from portal.security.inputs import guard_routes
from portal.security.sessions import SessionMiddleware
from portal.services import audit
from portal.services.billing import processors as billing_processors
from portal.services.registration import steps as registration_steps
from portal.templating import make_templates
from portal.views import (
    account,
    appointments,
    auth,
    billing,
    billing_guest,
    billing_staff,
    chart,
    checkin,
    errors,
    families,
    front_desk,
    health,
    home,
    language,
    messaging,
    printing,
    records,
    refills,
    registration_review,
    schedule,
    staff_home,
)
from portal.views import audit as audit_views
from portal.views import due as due_views

# Each feature's views module ends in `routes = [...]`; add new modules here.
VIEW_MODULES = [
    health,
    home,
    language,
    auth,
    account,
    front_desk,
    chart,
    audit_views,
    families,
    printing,
    records,
    checkin,
    registration_review,
    refills,
    due_views,
    staff_home,
    messaging,
    billing,
    billing_guest,
    billing_staff,
    appointments,
    schedule,
]

MAX_BODY_SIZE = 10 * 1024 * 1024


def demo_routes(settings: Settings) -> list[BaseRoute]:
    """The demo's mailbox, which needs no sign-in: only in demo mode, never in production."""
    if not settings.demo:
        return []
    from portal.views import demo_mail

    return list(demo_mail.routes)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    settings.check()
    billing_processors.check_settings(settings)  # production refuses the demo payment processor

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        app.state.engine.dispose()

    routes = guard_routes(
        [route for module in VIEW_MODULES for route in module.routes] + demo_routes(settings)
    )
    # A route that takes a file (the insurance card photo) may say how large a body it takes.
    route_limits = route_body_limits(
        routes,
        {name: size for module in VIEW_MODULES for name, size in getattr(module, "BODY_LIMITS", {}).items()},
    )
    app = Starlette(
        debug=False,  # never show tracebacks: they can carry patient data
        routes=routes,
        middleware=[
            Middleware(RequestLog),
            *forwarded_middleware(settings),
            # Every reply below this line carries the security headers, the wrong-host one included.
            Middleware(SecurityHeaders, https=settings.https),
            Middleware(CanonicalHost, origin=settings.origin, netloc=urlsplit(settings.origin).netloc),
            Middleware(i18n.LocaleMiddleware),
            Middleware(Compress, minimum_size=500),
            Middleware(errors.CatchErrors),
            Middleware(
                BodyLimit, max_bytes=MAX_BODY_SIZE, refuse=errors.body_too_large, route_limits=route_limits
            ),
            Middleware(CSRFMiddleware, settings=settings, refuse=errors.refuse_forgery),
            Middleware(SessionMiddleware, settings=settings),
            Middleware(i18n.SavedLocale),  # keep it after the middleware that loads the signed-in person
        ],
        exception_handlers={HTTPException: errors.http_error},
        lifespan=lifespan,
    )
    assets = Assets(settings)
    clinic = {
        "name": settings.clinic_name,
        "phone": settings.clinic_phone,
        "logo_svg": settings.clinic_logo_svg,
    }

    def common_context(request: Request) -> dict[str, Any]:
        return {
            "clinic": clinic,
            "static_url": assets.url,
            "csrf_token": request.scope.get("state", {}).get("csrf_token", ""),
            "person": request.scope.get("state", {}).get("person"),
            "checkin_offer": checkin_offer,
        }

    checkin_offer = registration_steps.offer_window(settings.checkin_opens_days)
    templates = make_templates()
    templates.context_processors.append(common_context)
    app.state.settings = settings
    app.state.engine = db.make_engine(settings.database_url)
    audit.use_chain_key(app.state.engine, settings.secret_key)
    app.state.assets = assets
    app.state.templates = templates
    return app
