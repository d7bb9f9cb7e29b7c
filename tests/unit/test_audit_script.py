"""`make audit` (tools/audit.py): a finding stops the build; where no advisory database can
be reached it says so in one line and the build goes on, never "no known vulnerabilities"
for packages it did not check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.flows  # tools/audit.py and pip-audit in subprocesses

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "audit.py"
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")

# A stand-in for pip-audit: answers per service (-s) as the test sets it in the environment.
FAKE = r'''#!{python}
import json, os, sys
args = sys.argv[1:]
service = args[args.index("-s") + 1]
mode = os.environ["FAKE_" + service.upper()]
deps = [{{"name": "six", "version": "1.17.0", "vulns": []}},
        {{"name": "jinja2", "version": "3.1.6", "vulns": []}}]
if mode == "vuln":
    deps[1]["vulns"] = [{{"id": "GHSA-xxxx-yyyy-zzzz", "fix_versions": ["3.1.7"]}}]
elif mode == "skipped":  # what PyPI's JSON API behind a mirror gives: nothing checked
    deps = [{{"name": d["name"], "skip_reason": "Dependency not found on PyPI and could not "
              "be audited: " + d["name"]}} for d in deps]
elif mode == "unreachable":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev', "
          "port=443): Max retries exceeded (Caused by NameResolutionError(x))", file=sys.stderr)
    sys.exit(1)
elif mode == "broken":
    print("ERROR: hashes do not match the lock", file=sys.stderr)
    sys.exit(1)
print(json.dumps({{"dependencies": deps, "fixes": []}}))
print("No known vulnerabilities found" if mode != "vuln" else "Found 1 known vulnerability",
      file=sys.stderr)
sys.exit(1 if mode == "vuln" else 0)
'''


def _audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def _fake(tmp_path: Path, pypi: str, osv: str) -> tuple[str, dict[str, str]]:
    fake = tmp_path / "pip-audit"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    return str(fake), {**os.environ, "FAKE_PYPI": pypi, "FAKE_OSV": osv}


def _one_lock(tmp_path: Path) -> Path:
    """The first pin of requirements.lock, with its hashes."""
    text = (ROOT / "requirements.lock").read_text()
    first = re.search(r"^[a-z0-9][^\n]*==[^\n]*\\\n(?:\s+--hash=[^\n]*\n)+", text, re.M)
    assert first is not None
    lock = tmp_path / "one.lock"
    lock.write_text(first.group(0))
    return lock


def test_with_no_database_in_reach_the_real_pip_audit_gives_one_line_and_the_build_goes_on(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    closed = "http://127.0.0.1:9"  # a proxy no one listens on: PyPI and OSV alike unreachable
    env.update(HTTPS_PROXY=closed, HTTP_PROXY=closed, https_proxy=closed, http_proxy=closed,
               PIP_NO_CACHE_DIR="1", XDG_CACHE_HOME=str(tmp_path / "cache"),
               HOME=str(tmp_path))  # no cached answer stands in for the database
    out = _audit(str(_one_lock(tmp_path)), "--pip-audit", str(PIP_AUDIT), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("audit: NOT DONE for "), lines
    assert "pypi: ProxyError reaching pypi.org" in lines[0]
    assert "osv: ProxyError reaching api.osv.dev" in lines[0]
    assert "no known vulnerabilities" not in out.stdout.lower() + out.stderr.lower()


def test_a_mirror_without_advisories_is_not_taken_for_a_clean_audit(tmp_path: Path) -> None:
    fake, env = _fake(tmp_path, pypi="skipped", osv="unreachable")
    out = _audit("a.lock", "b.lock", "--pip-audit", fake, env=env)
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        "audit: NOT DONE for a.lock, b.lock: no advisory database could be reached from here "
        "(pypi: checked none of 2 packages (Dependency not found on PyPI and could not be "
        "audited); osv: ConnectionError reaching api.osv.dev (NameResolutionError)); nothing "
        "was checked, the build goes on"]


@pytest.mark.parametrize("pypi, osv", [("vuln", "clean"), ("skipped", "vuln"),
                                       ("unreachable", "vuln")])
def test_a_known_vulnerability_stops_the_build(tmp_path: Path, pypi: str, osv: str) -> None:
    fake, env = _fake(tmp_path, pypi=pypi, osv=osv)
    out = _audit("a.lock", "--pip-audit", fake, env=env)
    assert out.returncode == 1
    assert "audit: VULNERABLE a.lock: jinja2 3.1.6: GHSA-xxxx-yyyy-zzzz (fixed in 3.1.7)" \
        in out.stdout.splitlines()


def test_packages_really_checked_are_told_as_checked(tmp_path: Path) -> None:
    fake, env = _fake(tmp_path, pypi="clean", osv="vuln")  # OSV is not asked: PyPI answered
    out = _audit("a.lock", "--pip-audit", fake, env=env)
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        "audit: a.lock: no known vulnerabilities in the 2 packages checked (pypi)"]


def test_pip_audit_failing_otherwise_fails_the_build(tmp_path: Path) -> None:
    fake, env = _fake(tmp_path, pypi="broken", osv="clean")
    out = _audit("a.lock", "--pip-audit", fake, env=env)
    assert out.returncode == 2
    assert out.stdout.splitlines() == [
        "audit: FAILED: a.lock: pip-audit exit 1: ERROR: hashes do not match the lock"]


def test_make_test_runs_the_audit_of_both_lock_files() -> None:
    planned = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60).stdout
    assert "tools/audit.py requirements.lock requirements-test.lock" in planned
