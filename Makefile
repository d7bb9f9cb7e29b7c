PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned with hashes (uv pip compile): requirements.lock is what the image runs,
# requirements-test.lock adds the test tools. `make lock` refreshes both from pyproject.toml.
LOCK := requirements-test.lock
# Python may cache compiled modules (__pycache__, ignored by git): with
# PYTHONDONTWRITEBYTECODE set (as some images do), every one of the hundreds of processes
# the tests start compiled the project anew, and each pytest worker rewrote every test module.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast coverage install lint clean browser faketime lock audit docs chaos bench

# Re-installs whenever pyproject.toml or the lock changes; the project itself goes in
# without dependencies, so nothing outside the lock is ever resolved.
$(STAMP): pyproject.toml $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check  # a dependency pyproject.toml asks for but the lock lacks fails here
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

# libfaketime runs one process with its clock ahead (the clock-skew test and chaos scenario):
# installed like the browser; elsewhere those skip with a message (CI fails them).
faketime:
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 2>/dev/null | grep -q . \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null) \
	  || echo "libfaketime not installed: the clock-skew test will skip (CI fails it)"; }

# Every pin of both lock files against the known advisories (tools/audit.py, pip-audit from
# the test lock; nothing installed): a finding stops the build. Where no advisory database
# can be reached, one line says the audit was not done and why, and the build goes on.
audit: $(STAMP)
	$(BIN)/python tools/audit.py requirements.lock requirements-test.lock

# The suite in parallel processes (pytest-xdist): most process tests wait on the processes
# they started, so more workers than cores pay (2 cores, the parallel pass: 8 workers 433 s,
# 6 workers 373 s, 4 workers 460 s; more than 6 lose to the load they add). loadscope keeps each module's functions on one
# worker, in order (an e2e module starts its stack of processes once; a class is a scope of its
# own); no reorder, and modules marked `spread` first (tests/conftest.py _schedule): the
# longest work starts first instead of ending last. Tests marked `serial` time speed against
# the clock: they run afterwards, away from the parallel pass's load, two modules at a time
# (what they time at the post office came out the same as one after another, e.g.
# test_quota.py's free account's requests over 7.49-7.51 s both ways, the bound 8.5 s), then
# those marked `alone`, one by one: test_quota_on_workers.py (beside the others it once saw 5
# requests of an account in a second, quota 4: its processes load the machine most) and chaos
# scenario 3's short run (its 60-s bound on recovery once met 65 s under the parallel pass's
# load, 8 s alone).
# PYTEST_WORKERS=0: the parallel pass in one process.
PYTEST_WORKERS ?= 6
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder
test: $(STAMP) browser faketime audit
	$(BIN)/ruff check worker integrations simulators chaos tests tools celeryconfig.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo  # the layers and import rules of .importlinter
	$(BIN)/pytest -q -rs --durations=25 $(PYTEST_PARALLEL) -m "not serial"
	$(BIN)/pytest -q -rs -n 2 --dist loadscope -m "serial and not alone"
	$(BIN)/pytest -q -rs -m "serial and alone"

# The fault-injection suite (chaos/): every scenario on real processes and the suite's own
# redis-server and PostgreSQL cluster, one table, written with the machine to bench/CHAOS.md
# (the scenarios that mostly wait in a second lane; bench/CHAOS.md gives the time). `make test`
# runs short versions of 1, 3, 6 and 9.
chaos: $(STAMP) faketime
	$(BIN)/python -m chaos --out bench/CHAOS.md

# The performance benchmarks (bench/run.py): bursts of hand-offs on deployments of their own
# (Redis + PostgreSQL, and the embedded default), Celery's no-op ceiling, scaling, the
# post office's quota, 30 agencies on 10 accounts, latency at a steady rate, push-backs, a
# tracking-feed backlog, the ops queries on 1,000,000 log events, round trips per row;
# figures as ratios against baselines measured in the same run, written to bench/RESULTS.md
# after each benchmark (bench/RESULTS.md gives the time the run took).
bench: $(STAMP)
	$(BIN)/python -m bench.run --out bench/RESULTS.md

# The edit-test loop (about 20 s): ruff; of tests/unit and tests/service the rules on fakes,
# parsing and mapping, in two processes: no `handoff` subprocesses (processes), no PostgreSQL
# or Redis (services), no web, CLI or server-thread flows on a database (flows); import rules.
test-fast: $(STAMP)
	$(BIN)/ruff check worker integrations simulators chaos tests tools celeryconfig.py
	$(BIN)/pytest -q -x -n 2 -m "not processes and not services and not flows" \
	  tests/unit tests/service
	$(BIN)/lint-imports --no-logo

# Branch coverage of worker/ and integrations/ as the test processes see it (the `handoff`
# processes they start are not measured): measured the same way each time, to compare.
coverage: $(STAMP)
	mkdir -p test-artifacts
	COVERAGE_FILE=test-artifacts/.coverage \
	  $(BIN)/pytest -q $(PYTEST_PARALLEL) --cov=worker --cov=integrations \
	  --cov-branch --cov-report=term:skip-covered --cov-report=json:test-artifacts/coverage.json

# The generated pages: docs/configuration.md (from worker/settings.py) and docs/cli.md (from
# every command's --help); tests/unit/test_docs_fresh.py fails while either is stale.
docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py

lint: $(STAMP)
	$(BIN)/ruff check worker integrations simulators chaos tests tools celeryconfig.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# Newest versions allowed by pyproject.toml, for every Python from 3.11 (--universal).
# `make lock UPGRADE=` only adds what pyproject.toml newly asks for and keeps every other pin.
UPGRADE ?= --upgrade
lock:
	[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet $(UPGRADE) --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml --extra test -o requirements-test.lock

clean:
	rm -rf var test-artifacts
