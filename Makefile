PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/handoff demo

test: $(STAMP)
	$(BIN)/ruff check worker integrations tests celeryconfig.py
	$(BIN)/pytest -q -rs --durations=10

lint: $(STAMP)
	$(BIN)/ruff check worker integrations tests celeryconfig.py

clean:
	rm -rf var test-artifacts
