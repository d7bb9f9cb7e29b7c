"""schemathesis against /openapi.json of a running `handoff web`: whatever the document allows
(and what it does not), the answer is never a 5xx and always matches the document."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.onestop.webhooks import sign_webhook
from tests.e2e.helpers import api_auth
from worker.launch.stack import Stack
from worker.settings import Settings
from worker.web.openapi import document

# no 5xx; every status, content type and body as documented; and a request the document
# does not allow (negative generation) is refused with a 4xx, never taken
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Only the web process on a migrated database: nothing else is needed to answer."""
    with Stack(home=tmp_path_factory.mktemp("schemathesis") / "home") as stack:
        stack.migrate()
        stack.start_web()
        yield stack


@pytest.fixture(scope="module")
def auth(served: Stack) -> dict[str, str]:
    # an agency token: a body naming any other agency must be the documented 403; the
    # webhook ignores it and, unsigned, must be the documented 401
    return api_auth(served, "schemathesis", "000.00.17.H19")


# The document the running process serves is this one (test_the_running_web_serves_this_
# document), so
# it is loaded here, at collection, before any process runs; the calls go to the process.
schema = schemathesis.openapi.from_dict(document(), config=SchemathesisConfig.from_dict({
    # a bounded run: the whole module finishes well under two minutes
    "generation": {"mode": "all", "max-examples": 100, "deterministic": True,
                   "allow-x00": True},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 30,
}))


def test_the_running_web_serves_this_document(served: Stack) -> None:
    r = httpx.get(served.web_url + "openapi.json", timeout=30)
    assert r.status_code == 200 and r.json() == document()


@schema.parametrize()
def test_every_answer_is_documented_and_never_a_server_error(  # type: ignore[no-untyped-def]
        case, served: Stack, auth: dict[str, str]) -> None:
    response = case.call_and_validate(base_url=served.web_url.rstrip("/"), headers=auth,
                                      checks=CHECKS)
    if case.operation.path == "/hooks/onestop":
        assert response.status_code != 200, response.text  # unsigned: never taken


@schema.include(path="/hooks/onestop").parametrize()
def test_a_signed_webhook_body_of_any_shape_is_answered_as_documented(  # type: ignore[no-untyped-def]
        case, served: Stack) -> None:
    # signed as the one-stop system would: whatever the item holds, the answer is the
    # documented 200 (recorded, maybe as invalid) or 422, never a 5xx
    payload = case.body if isinstance(case.body, (dict, list, str, int, float)) else None
    body = json.dumps(payload).encode()
    headers = sign_webhook(Settings().webhook_secret, f"msg_{uuid.uuid4().hex}", body)
    response = httpx.post(served.web_url + "hooks/onestop", content=body, timeout=30,
                          headers={**headers, "Content-Type": "application/json"})
    case.validate_response(response, checks=CHECKS[:-1])
    assert response.status_code in (200, 422), response.text
