"""The chaos suite (issue 15): real processes on servers the suite owns, faults injected.

Every scenario (`chaos/scenarios/sNN_*.py`) starts a whole deployment (simulators, web,
Celery workers and beats as subprocesses) on its own `redis-server` and its own PostgreSQL
cluster (`chaos/servers.py`), optionally behind a TCP proxy it controls (`chaos/proxy.py`),
injects one kind of failure, and counts what was lost or done twice.

Run it with `python -m chaos [--short] [--only 1,3] [--out bench/CHAOS.md]`, or `make chaos`
for the full sizes; the short sizes of a few scenarios also run in `make test`
(tests/chaos/). It is test tooling: production code (`worker`, `integrations`) never
imports it.
"""
