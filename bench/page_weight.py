"""Print what a first visit to the sign-in page transfers, gzip-compressed, against the budgets."""

from __future__ import annotations

import re
import tempfile

from starlette.testclient import TestClient

from portal import db
from portal.app import create_app
from portal.config import Settings

HTML_CSS_BUDGET = 14 * 1024
JS_BUDGET = 20 * 1024
FIRST_VISIT_BUDGET = 30 * 1024


def main() -> None:
    data_dir = tempfile.mkdtemp()
    settings = Settings.from_env({"PORTAL_DATA_DIR": data_dir})
    app = create_app(settings)
    db.upgrade(app.state.engine)
    with TestClient(app, base_url=settings.origin) as client:
        page = client.get("/login", headers={"Accept-Encoding": "gzip"})
        html = int(page.headers["content-length"])
        css = js = 0
        for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
            size = int(client.get(url, headers={"Accept-Encoding": "gzip"}).headers["content-length"])
            if url.endswith(".css"):
                css += size
            elif url.endswith(".js"):
                js += size
    print(f"sign-in page: html {html} B + css {css} B = {html + css} B gzip (budget {HTML_CSS_BUDGET})")
    print(f"sign-in page: javascript {js} B gzip (budget {JS_BUDGET})")
    print(f"sign-in page: first visit {html + css + js} B (budget {FIRST_VISIT_BUDGET})")


if __name__ == "__main__":
    main()
