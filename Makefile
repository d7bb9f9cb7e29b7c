PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean browser

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/handoff demo

# The page tests drive Debian's Chromium (Playwright's own browser download is not used).
# Installed here when missing and we are root (CI); elsewhere those tests skip with a message.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium not installed: browser tests will skip (CI fails them)"; }

test: $(STAMP) browser
	$(BIN)/ruff check worker integrations tests celeryconfig.py
	$(BIN)/mypy
	$(BIN)/pytest -q -rs --durations=10

lint: $(STAMP)
	$(BIN)/ruff check worker integrations tests celeryconfig.py
	$(BIN)/mypy

clean:
	rm -rf var test-artifacts
