"""`make audit`: every pin of the lock files checked for known advisories by pip-audit."""

# Nothing is installed or resolved: pip-audit reads the pins (and their hashes) of each lock
# file and asks an advisory database, PyPI's JSON API first, then OSV. Outcomes:
#   a finding                     its lines, then exit 1 (the build stops)
#   every package checked         one line per lock file, exit 0
#   no database could be reached  ONE line saying the audit was not done and why, exit 0:
#                                 pip-audit itself then says "No known vulnerabilities
#                                 found" for packages it skipped, which is never repeated
#   pip-audit failed otherwise    its last line, exit 2 (a broken audit is not a pass)
# Standard library only: it runs with the venv's python, pip-audit comes from the lock.

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("pypi", "osv")
RUN_TIMEOUT_S = 300
# what pip-audit's last line says when a database cannot be reached (requests' errors) or
# answers with an error (pip-audit's ServiceError)
UNREACHABLE = ("ConnectionError", "ProxyError", "NameResolutionError", "Max retries exceeded",
               "ConnectTimeout", "ReadTimeout", "Timeout", "SSLError", "Failed to resolve",
               "timed out", "ServiceError")


@dataclass
class Lock:
    path: str
    checked: int = 0
    skipped: list[str] = field(default_factory=list)  # skip reasons of what was not checked
    findings: list[str] = field(default_factory=list)
    service: str = ""


class ToolFailed(Exception):
    """pip-audit failed for a reason other than an unreachable database."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _short(why: str) -> str:
    """requests' long error line as "ConnectionError reaching api.osv.dev (NameResolution
    Error)"; any other text as it is."""
    kind = re.match(r"[\w.]*?(\w+): ", why)
    host = re.search(r"host='([^']+)'", why)
    cause = re.findall(r"Caused by (\w+)", why)
    if not kind or not host:
        return why
    return f"{kind.group(1)} reaching {host.group(1)}" + (f" ({cause[-1]})" if cause else "")


def _run(pip_audit: str, lock: str, service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report, or None and why not (a database out of reach)."""
    command = [pip_audit, "--disable-pip", "--require-hashes", "-r", lock, "-s", service,
               "-f", "json", "--progress-spinner", "off", "--timeout", "15"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {RUN_TIMEOUT_S} s"
    except OSError as exc:
        raise ToolFailed(f"{pip_audit}: {exc.strerror}") from None
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if isinstance(report, dict) and isinstance(report.get("dependencies"), list):
        return report, ""
    why = _last_line(done.stderr)
    if any(marker in why for marker in UNREACHABLE):
        return None, _short(why)
    raise ToolFailed(f"{lock}: pip-audit exit {done.returncode}: {why}")


def _read(report: dict, lock: Lock, service: str) -> None:
    lock.service = service
    for dep in report["dependencies"]:
        if "skip_reason" in dep:
            lock.skipped.append(str(dep["skip_reason"]))
            continue
        lock.checked += 1
        for vuln in dep.get("vulns") or []:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            lock.findings.append(f"{lock.path}: {dep['name']} {dep['version']}: {vuln['id']} "
                                 f"(fixed in {fixed})")


def audit(pip_audit: str, paths: list[str]) -> int:
    locks = [Lock(p) for p in paths]
    out_of_reach: dict[str, str] = {}  # service -> why: not asked again for the next lock
    for lock in locks:
        for service in SERVICES:
            if service in out_of_reach:
                continue
            report, why = _run(pip_audit, lock.path, service)
            if report is None:
                out_of_reach[service] = why
                continue
            skipped_before = len(lock.skipped)
            _read(report, lock, service)
            if lock.checked:
                break
            # nothing checked: every package skipped (PyPI's JSON API without the packages,
            # as behind a mirror); say why with pip-audit's first reason
            reason = lock.skipped[skipped_before] if lock.skipped else "no package in the lock"
            out_of_reach[service] = f"checked none of {len(report['dependencies'])} " \
                                    f"packages ({reason.split(':')[0]})"
            lock.skipped = lock.skipped[:skipped_before]
    findings = [f for lock in locks for f in lock.findings]
    if findings:
        for finding in findings:
            print(f"audit: VULNERABLE {finding}")
        print(f"audit: {len(findings)} known advisories in the locked packages: upgrade "
              "those pins (make lock), then run make audit again")
        return 1
    not_done = [lock for lock in locks if not lock.checked]
    if not_done:
        reasons = "; ".join(f"{s}: {why}" for s, why in out_of_reach.items())
        print(f"audit: NOT DONE for {', '.join(lock.path for lock in not_done)}: no advisory "
              f"database could be reached from here ({reasons}); nothing was checked, the "
              "build goes on")
        return 0
    for lock in locks:
        unchecked = (f"; {len(lock.skipped)} not checked ({lock.skipped[0]})"
                     if lock.skipped else "")
        print(f"audit: {lock.path}: no known vulnerabilities in the {lock.checked} packages "
              f"checked ({lock.service}){unchecked}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("locks", nargs="+", help="lock files (pinned, with hashes)")
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")),
                        help="the pip-audit to run (default: the one beside this python, "
                             "installed from requirements-test.lock)")
    args = parser.parse_args()
    try:
        return audit(args.pip_audit, args.locks)
    except ToolFailed as exc:
        print(f"audit: FAILED: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
