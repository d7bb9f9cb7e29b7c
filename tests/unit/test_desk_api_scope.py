"""A desk API token acts only for its agency; answers mask personal data like the pages."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.unit.desk_api_app import (  # noqa: F401 (fixture)
    ORDERED,
    OTHER,
    OURS,
    STREET,
    THEIRS,
    WAITING,
    DeskApi,
    desk_api_fixture,
)
from worker.db.models import Job
from worker.service.flow.desk import UNKNOWN_VI

PICKUPS = "/api/v1/pickups"


def _jobs(api: DeskApi) -> int:
    with api.db.unit_of_work() as s:
        return int(s.scalar(select(func.count(Job.id))) or 0)


def test_a_call_without_agency_code_cannot_order_another_agencys_dossier(
        desk_api: DeskApi) -> None:
    # the regression: one token for every agency ordered this dossier
    r = desk_api.client.post(PICKUPS, json={"dossierCodes": [OTHER, ORDERED]},
                             headers=desk_api.ours)
    assert r.status_code == 200, r.text
    other, ours = r.json()["results"]
    assert other["outcome"] == "refused" and other["reason"] == UNKNOWN_VI
    assert ours["outcome"] == "already_ordered"  # the token's own agency is the default
    assert _jobs(desk_api) == 1  # nothing ordered for the other agency


def test_naming_another_agency_is_403_naming_the_field(desk_api: DeskApi) -> None:
    for r in (
        desk_api.client.post(PICKUPS, json={"dossierCodes": [OTHER], "agencyCode": THEIRS},
                             headers=desk_api.ours),
        desk_api.client.post(f"{PICKUPS}/{OTHER}/cancel", json={"agencyCode": THEIRS},
                             headers=desk_api.ours),
    ):
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["error"] == "forbidden_agency" and body["field"] == "agencyCode"
        assert OURS in body["reason"]
    r = desk_api.client.get(PICKUPS + "/pending", params={"agency": THEIRS},
                            headers=desk_api.ours)
    assert r.status_code == 403 and r.json()["field"] == "agency"
    assert _jobs(desk_api) == 1


def test_naming_its_own_agency_is_allowed(desk_api: DeskApi) -> None:
    r = desk_api.client.post(PICKUPS, json={"dossierCodes": [ORDERED], "agencyCode": OURS},
                             headers=desk_api.ours)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "already_ordered"


def test_cancelling_another_agencys_dossier_is_refused(desk_api: DeskApi) -> None:
    r = desk_api.client.post(f"{PICKUPS}/{OTHER}/cancel", headers=desk_api.ours)
    assert r.status_code == 409 and r.json()["reason"] == UNKNOWN_VI


def _pickup(api: DeskApi, code: str) -> tuple[int, dict]:
    r = api.client.post(PICKUPS, json={"dossierCodes": [code]}, headers=api.ours)
    return r.status_code, {**r.json()["results"][0], "dossierCode": "…"}


def _cancel(api: DeskApi, code: str) -> tuple[int, dict]:
    r = api.client.post(f"{PICKUPS}/{code}/cancel", headers=api.ours)
    return r.status_code, {**r.json(), "dossierCode": "…"}


def test_another_agencys_dossier_is_answered_as_an_unknown_one(desk_api: DeskApi) -> None:
    """A token cannot learn that another agency's dossier code exists."""
    unknown = "000.00.18.H20-201126-9999"  # shaped like OTHER, but nobody has it
    for ask in (_pickup, _cancel):
        assert ask(desk_api, OTHER) == ask(desk_api, unknown)
    assert _jobs(desk_api) == 1


def test_pending_shows_only_the_tokens_agency_with_names_masked(desk_api: DeskApi) -> None:
    r = desk_api.client.get(PICKUPS + "/pending", headers=desk_api.ours)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["dossierCode"] for i in items] == [WAITING]
    assert items[0]["citizenName"] == "N. T. H***"
    assert items[0]["phoneMasked"] == "09****678"
    assert "Hồng" not in r.text and "0912345678" not in r.text and STREET not in r.text
    own = desk_api.client.get(PICKUPS + "/pending", params={"agency": OURS},
                              headers=desk_api.ours)
    assert _without_clock(own.json()) == _without_clock(r.json())


def _without_clock(page: dict) -> dict:
    """The page less each row's waiting time, which moves on between two requests."""
    return {**page, "items": [{k: v for k, v in i.items() if k != "waitedSeconds"}
                              for i in page["items"]]}


def test_an_all_agency_token_sees_every_agency_or_the_one_it_names(desk_api: DeskApi) -> None:
    every = desk_api.client.get(PICKUPS + "/pending", headers=desk_api.everyone).json()
    assert {i["dossierCode"] for i in every["items"]} == {WAITING, OTHER}
    assert "Lê Thị Bình" not in str(every)
    theirs = desk_api.client.get(PICKUPS + "/pending", params={"agency": THEIRS},
                                 headers=desk_api.everyone).json()
    assert [i["dossierCode"] for i in theirs["items"]] == [OTHER]
