"""The lock files: every dependency of pyproject.toml pinned within its range, with hashes,
and installed from by the Makefile, the Dockerfile and so CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(name: str) -> dict[str, list[tuple[Version, str]]]:
    """package -> [(version, marker)]: a universal lock may pin one package per Python."""
    out: dict[str, list[tuple[Version, str]]] = {}
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = PIN.match(line)
        if m:
            assert i + 1 < len(lines) and "--hash=sha256:" in lines[i + 1], f"{name}: {line}"
            pkg = canonicalize_name(m.group(1).split("[")[0])
            out.setdefault(pkg, []).append((Version(m.group(2)), (m.group(3) or "").strip()))
    return out


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.mark.parametrize("lock, extras", [("requirements.lock", []),
                                          ("requirements-test.lock", ["test"])])
@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_every_dependency_is_pinned_within_its_range(lock: str, extras: list[str],
                                                     python: str) -> None:
    pins = _pins(lock)
    wanted = list(_project()["dependencies"])
    for extra in extras:
        wanted += _project()["optional-dependencies"][extra]
    env = {"python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    for spec in wanted:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock} lacks {name}: run `make lock`"
        versions = [v for v, marker in pins[name] if not marker or Marker(marker).evaluate(env)]
        assert versions, f"{lock}: no {name} pin for Python {python}"
        for version in versions:
            assert req.specifier.contains(version, prereleases=True), (
                f"{lock}: {name}=={version} is outside {req.specifier}: run `make lock`")


def test_the_runtime_lock_holds_no_test_tools() -> None:
    assert not {"pytest", "playwright", "schemathesis", "hypothesis"} & set(
        _pins("requirements.lock"))


def test_security_floors_are_in_the_locks() -> None:
    for lock in ("requirements.lock", "requirements-test.lock"):
        pins = _pins(lock)
        for name, floor in (("starlette", "1.5.1"), ("python-multipart", "0.0.31"),
                            ("jinja2", "3.1.6"), ("h11", "0.16")):
            assert all(v >= Version(floor) for v, _ in pins[name]), (lock, name)


def test_make_installs_from_the_lock_and_reinstalls_when_it_changes() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", make, re.M)
    assert stamp_rule and "$(LOCK)" in stamp_rule.group(1)
    assert re.search(r"^LOCK := requirements-test\.lock$", make, re.M)
    assert "--require-hashes -r $(LOCK)" in make and "--no-deps -e ." in make
    assert re.search(r"^lock:", make, re.M)


def test_the_image_installs_from_the_runtime_lock() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY requirements.lock" in docker
    assert "pip install --require-hashes -r /tmp/src/requirements.lock" in docker
    assert "pip install --no-deps /tmp/src" in docker
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text(encoding="utf-8")
