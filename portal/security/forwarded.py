"""Whose address a request comes from, when the portal sits behind a reverse proxy or load balancer.

The rate limits per address and the audit log use the connecting socket's address, unless that socket
belongs to a proxy named in PORTAL_TRUSTED_PROXIES (addresses or networks, comma-separated): then, and
only then, `X-Forwarded-For` (the rightmost address no trusted proxy added) and `X-Forwarded-Proto` are
believed. uvicorn's own handling of these headers is switched off in portal/serving.py, so this setting
is the one place that decides, whatever server runs the app.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from portal.config import Settings


def forwarded_middleware(settings: Settings) -> list[Middleware]:
    """uvicorn's proxy-header middleware, trusting exactly the configured proxies (none by default)."""
    if not settings.trusted_proxies:
        return []
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]
