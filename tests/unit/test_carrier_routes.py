"""A carrier route is fully described by its RouteSpec, and a value no route has is refused
at every door.

Every registered route has a letter, a label, its settings, an adapter factory and a
simulator door, and an order its factory's adapter posts through that door arrives by that
route. "C" (and anything else no route has) is refused, naming the field, by the CLI, an
import file, the agencies page and a stored row.

Adding a route ("C"), the edit list these tests hold:
1. `Route.XXX = "xxx"` in worker/domain/enums.py;
2. its `RouteSpec` in worker/domain/routes.py (letter, label, settings, simulator door,
   own_account);
3. its settings fields in worker/settings.py (and .env.example);
4. its adapter module in integrations/carriers/vnpost/routes/ (a CarrierGateway: where
   each call goes, how the token rides) with a `for_account` factory, and its line in
   integrations/carriers/registry.py `ADAPTERS`;
5. its door in simulators/carrier/doors.py `Doors.doors`.
Nothing else maps or labels a route: the CLI, the page, the import, the demo and the
runtime read the registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from integrations.carriers.registry import ADAPTERS
from simulators.carrier.app import SimConfig, serve_in_thread
from simulators.carrier.doors import Doors
from simulators.carrier.store import SimStore
from tests.fakes import ListBell
from tests.integration.test_carrier_client import make_order
from tests.web_app import add_staff, csrf, login, page_client
from worker.bootstrap import PRODUCTION, build_runtime
from worker.cli.agencies import agency
from worker.db.engine import Database
from worker.db.models import Agency
from worker.domain import routes
from worker.domain.agency_spec import clean_spec
from worker.domain.enums import Route
from worker.domain.errors import InvalidInput
from worker.domain.model import CarrierAccount
from worker.domain.routes import ROUTES, route_spec
from worker.ports.quota import NoLimit
from worker.service import agencies
from worker.service.runtime import Runtime
from worker.settings import Settings

CODE = "000.00.99.H19"  # not one of the agencies sqlite_db seeds
SENDER = ["--name", "UBND xã Thử Nghiệm", "--tel", "02773000001", "--address", "Số 1",
          "--province", "82", "--ward", "30226"]
CREDS = {"customer_key": "route-key", "secret_key": "route-secret",
         "push_secret": "route-push-secret-16+"}
UNKNOWN = ["C", "c", "x", "ngs", "A B", "", "  ", None, 1, ["ngsp"]]


# --- every route is described whole --------------------------------------------------------
def test_every_route_is_registered_once_in_each_table() -> None:
    doors = Doors(SimStore(SimConfig()), gate=None).doors  # type: ignore[arg-type]
    assert set(ROUTES) == set(Route)
    assert set(ADAPTERS) == set(ROUTES), "a route without an adapter factory"
    assert set(PRODUCTION.carriers) == set(ROUTES), "bootstrap does not use the registry"
    assert set(doors) == set(ROUTES), "a route without a simulator door"


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_route_spec_names_its_letter_label_settings_and_simulator_door(route: Route) -> None:
    spec = ROUTES[route]
    assert spec.route == route and len(spec.letter) == 1 and spec.letter.isupper()
    assert [s.letter for s in ROUTES.values()].count(spec.letter) == 1
    assert spec.label.startswith(f"{spec.letter} – ")
    assert spec.settings and set(spec.settings) <= set(Settings.model_fields)
    urls = {name for name in spec.settings if name.endswith("_url")}
    assert set(spec.sim_door) == urls, "every URL of the route points at the simulator"
    assert route_spec(spec.letter) is spec and route_spec(route.value) is spec


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    base_url, stop = serve_in_thread(SimConfig(seed=5, return_rate=0.0, pickup_fail_rate=0.0))
    yield base_url
    stop()


@pytest.mark.parametrize("route", list(ROUTES))
def test_the_factorys_adapter_posts_by_its_route_through_the_simulator_door(
        route: Route, sim: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, **ROUTES[route].sim_settings(sim))  # type: ignore[arg-type]
    account = CarrierAccount(route, "C0001", "demo-key", "demo-secret")
    client = ADAPTERS[route](settings, account, NoLimit())
    order = make_order(n=list(ROUTES).index(route) + 40)
    try:
        assert client.post_order(order).already_existed is False
    finally:
        client.close()
    stats = httpx.get(f"{sim}_admin/stats", timeout=5).json()
    assert stats["orders_by_number"][order.order_number]["route"] == route


# --- a value no route has is refused at every door ----------------------------------------
@pytest.mark.parametrize("value", UNKNOWN)
def test_the_registry_refuses_a_value_no_route_has_naming_the_field(value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        route_spec(value, field="agency.route")
    assert refused.value.field == "agency.route"
    assert routes.choices() in refused.value.reason
    with pytest.raises(InvalidInput) as cleaned:
        clean_spec({"route": value}, adding=False)
    assert cleaned.value.field == "route"


@pytest.mark.parametrize(("value", "route"), [
    ("A", Route.NGSP), ("a", Route.NGSP), (" ngsp ", Route.NGSP), ("NGSP", Route.NGSP),
    ("B", Route.LGSP), ("b ", Route.LGSP), ("lgsp", Route.LGSP),
])
def test_a_route_is_taken_by_its_value_or_its_letter(value: str, route: Route) -> None:
    assert clean_spec({"route": value}, adding=False) == {"route": route}


@pytest.fixture
def rt(sqlite_db: Database, tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(home=tmp_path, database_url=sqlite_db.url), sqlite_db,
                            bell=ListBell())
    yield runtime
    runtime.close()


def _cli(rt: Runtime, *args: str, stdin: str = "") -> Result:
    result = CliRunner().invoke(agency, list(args), obj=rt, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_the_cli_refuses_a_route_no_route_has(rt: Runtime) -> None:
    out = _cli(rt, "add", CODE, *SENDER, "--route", "C")
    assert out.exit_code == 2 and f"route: chỉ nhận: {routes.choices()}" in out.output
    with rt.db.unit_of_work() as s:
        assert s.get(Agency, CODE) is None


def test_an_import_file_with_a_route_no_route_has_is_refused_whole(
        rt: Runtime, tmp_path: Path) -> None:
    entry = {"name": "UBND xã Một", "tel": "02773000002", "address": "Số 2",
             "province_code": "82", "ward_code": "30226"}
    path = tmp_path / "agencies.json"
    path.write_text(json.dumps({"000.00.98.H19": {**entry, "route": "A"},
                                CODE: {**entry, "route": "C"}}), encoding="utf-8")
    out = _cli(rt, "import", str(path))
    assert out.exit_code == 2 and f"{CODE}.route: chỉ nhận" in out.output, out.output
    with rt.db.unit_of_work() as s:
        assert s.get(Agency, "000.00.98.H19") is None  # all or nothing


def _page_error(html: str) -> str:
    found = re.search(r'<p class="card error" id="error" role="alert">(.*?)</p>', html, re.S)
    assert found is not None, html[:3000]
    return found.group(1)


def test_the_agencies_page_refuses_a_route_no_route_has(rt: Runtime) -> None:
    add_staff(rt.db)
    with page_client(rt) as client:
        login(client, "ops")
        token = csrf(client.get("/ops/agencies/new").text)
        r = client.post("/ops/agencies/new", data={
            "csrf": token, "code": CODE, "name": "UBND xã Hai", "tel": "02773000003",
            "address": "Số 3", "province_code": "82", "ward_code": "30226",
            "dispatch": "auto", "route": "C", "enabled": "1"})
    assert r.status_code == 400 and "Tuyến" in _page_error(r.text)
    assert 'id="error-route"' in r.text
    with rt.db.unit_of_work() as s:
        assert s.get(Agency, CODE) is None


def _stored_with_unknown_route(rt: Runtime) -> None:
    """An agency with its own route-B account whose stored route no route has (a value
    written by hand, or by a version that had a route this one lacks)."""
    added = _cli(rt, "add", CODE, *SENDER, "--route", "B", "--customer-code", "C0042",
                 "--credentials-stdin", stdin=json.dumps(CREDS))
    assert added.exit_code == 0, added.output
    with rt.db.unit_of_work() as s:
        s.execute(update(Agency).where(Agency.code == CODE).values(route="c"))


def test_a_stored_route_no_route_has_is_refused_not_guessed(rt: Runtime) -> None:
    _stored_with_unknown_route(rt)
    with rt.db.unit_of_work() as s:
        account = agencies.account_of(s, rt.settings, CODE)
    assert account is not None and account.route == "c"
    with pytest.raises(InvalidInput) as refused:  # no adapter: a permanent, named refusal
        rt.carrier_for(account)
    assert refused.value.field == "route" and "'c'" in refused.value.reason
    listed = _cli(rt, "list")
    assert "tuyến ?" in listed.output
    shown = _cli(rt, "show", CODE)
    assert "tuyến:             ? – không có tuyến 'c'" in shown.output
    changed = _cli(rt, "update", CODE, "--name", "UBND xã Khác")  # fix the route first
    assert changed.exit_code == 2 and "route: chỉ nhận" in changed.output, changed.output
    fixed = _cli(rt, "update", CODE, "--route", "B")
    assert fixed.exit_code == 0, fixed.output
    with rt.db.unit_of_work() as s:
        assert agencies.account_of(s, rt.settings, CODE).route == Route.LGSP  # type: ignore[union-attr]


def test_the_edit_form_keeps_a_stored_unknown_route_and_refuses_it_on_save(
        rt: Runtime) -> None:
    _stored_with_unknown_route(rt)
    add_staff(rt.db)
    with page_client(rt) as client:
        login(client, "ops")
        form = client.get(f"/ops/agencies/edit?code={CODE}").text
        assert '<option value="c" selected>' in form  # never silently shown as route A
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        r = client.post("/ops/agencies/edit", data={
            **{k: fields.get(k, "") for k in ("code", "name", "tel", "email", "address",
                                              "province_code", "ward_code")},
            "csrf": csrf(form), "dispatch": "auto", "route": "c"})
    assert r.status_code == 400 and "Tuyến" in _page_error(r.text)
