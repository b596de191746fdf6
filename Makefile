# The two set-up commands: `make run` (the demo portal) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium postgresql haproxy fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 poppler-utils

.PHONY: run test lint format system-deps pytest-sqlite pytest-postgres bench lighthouse messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	PORTAL_ORIGIN=http://localhost:8000 $(BIN)/portal demo --host 127.0.0.1 --port 8000

# Debian packages the tests need: a real Chromium, a PostgreSQL server, HAProxy (the load balancer in front of
# two app servers), fonts and Pango for WeasyPrint.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff format --check portal tests bench
	$(BIN)/ruff check portal tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format portal tests bench
	$(BIN)/ruff check --fix portal tests bench

# The unit and HTTP tests run on two processes (pytest-xdist; each has its own database); the browser tests
# and the multi-process tests marked slow run afterwards on one: Chromium alone keeps both cores busy, and
# the slow tests start servers of their own. (`BROWSER_PARALLEL="-n 2 --dist loadgroup"` spreads the
# browser tests over two processes, a persona's reach checks in one.)
PARALLEL ?= -n 2
BROWSER_PARALLEL ?= -p no:xdist

pytest-sqlite: $(STAMP)
	$(BIN)/pytest -q $(PARALLEL) -m "not browser and not slow"
	$(BIN)/pytest -q $(BROWSER_PARALLEL) -m "browser and not slow"
	$(BIN)/pytest -q -p no:xdist -m "slow"

pytest-postgres: $(STAMP)
	tests/with_postgres.sh sh -c '$(BIN)/pytest -q $(PARALLEL) -m "not browser and not slow" && \
	  $(BIN)/pytest -q -p no:xdist -m "slow and not browser"'

test: $(STAMP) system-deps lint pytest-sqlite pytest-postgres

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

# Refresh the translation catalogues from the code and templates (then translate the new entries).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output \
	  -o portal/locale/messages.pot .
	$(BIN)/pybabel update -i portal/locale/messages.pot -d portal/locale -D messages \
	  --ignore-obsolete
	rm portal/locale/messages.pot

# Lighthouse (mobile preset) against a demo portal; not part of `make test`.
lighthouse: $(STAMP)
	$(BIN)/python bench/lighthouse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
