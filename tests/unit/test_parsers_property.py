"""Property tests of every parser of outside data: whatever arrives, the only thing raised is
the project's own refusal, and what is accepted is storable; a valid item survives a trip."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.carriers.vnpost.feed import parse_tracking_page
from integrations.onestop.items import parse_item
from integrations.onestop.webhooks import BadSignature, sign_webhook, verify_webhook
from tests.onestop_items import ITEM, changed
from worker.domain.errors import InvalidInput, TransientError
from worker.domain.model import HandoffItem
from worker.domain.text import EARLIEST
from worker.web.api import CancelRequest, PickupRequest, _validated
from worker.web.bodies import BodyRefused, parse_json

SECRET = "whsec_ZGVtby13ZWJob29rLXNlY3JldC0zMmJ5dGVzISE="
FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# 300 examples each under CI (tests/conftest.py loads the "ci" profile), fewer in the
# edit-test loop; the profile decides
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# any text at all, lone surrogates and controls included
any_text = st.text(st.characters(codec=None, categories=None), max_size=60)
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | any_text)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(any_text, inner, max_size=4), max_leaves=20)

PATHS = ["id", "type", "dossierCode", "procedure", "procedure.code", "procedure.name",
         "agency", "agency.code", "agency.name", "citizen", "citizen.name", "citizen.phone",
         "citizen.email", "citizen.address", "citizen.provinceCode", "citizen.wardCode",
         "citizen.districtCode", "codAmount", "createdAt", "note"]


def _storable(item: HandoffItem) -> None:
    texts = [item.item_id, item.dossier_code, item.agency_code, item.agency_name,
             item.procedure_code, item.procedure_name, item.note]
    if item.citizen:
        c = item.citizen
        texts += [c.name, c.phone, c.email or "", c.address.street]
    for text in texts:
        assert not FORBIDDEN.search(text.replace("\n", "").replace("\t", "")
                                    .replace("\r", "")), repr(text)
        assert text == unicodedata.normalize("NFC", text)
    assert item.created_at.astimezone(UTC) >= EARLIEST
    assert 0 <= item.cod_amount <= 1_000_000_000


def _set(item: dict, path: str, value: object) -> dict:
    return changed(item, **{path.replace(".", "__"): value})


@PROPERTY
@given(json_values)
def test_any_json_value_as_an_item_is_refused_only_with_invalid_input(raw: object) -> None:
    try:
        _storable(parse_item(raw))
    except InvalidInput as err:
        assert err.field and err.reason and err.code


@PROPERTY
@given(st.sampled_from(PATHS), json_values)
def test_any_value_in_any_field_of_a_valid_item_is_taken_or_refused_naming_a_field(
        path: str, value: object) -> None:
    try:
        _storable(parse_item(_set(ITEM, path, value)))
    except InvalidInput as err:
        assert err.field and err.reason and err.code


# --- valid items survive a round trip -----------------------------------------------------
vn_words = st.text(st.sampled_from("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạếềểễệốồổỗộớờởỡợ"),
                   min_size=1, max_size=8)
names = st.lists(vn_words, min_size=1, max_size=4).map(lambda ws: " ".join(w.title() for w in ws))
phones = st.tuples(st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8)
                   ).map(lambda t: "0" + t[0] + t[1])
moments = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 1)
                       ).map(lambda d: d.replace(tzinfo=timezone(timedelta(hours=7)),
                                                 microsecond=0))
wards = st.sampled_from([("82", "30226"), ("01", "70"), ("20", "6445"), ("38", "16114")])


def _wire(item: HandoffItem) -> dict:
    assert item.citizen is not None
    c = item.citizen
    return {"id": item.item_id, "type": item.kind, "dossierCode": item.dossier_code,
            "procedure": {"code": item.procedure_code, "name": item.procedure_name},
            "agency": {"code": item.agency_code, "name": item.agency_name},
            "citizen": {"name": c.name, "phone": c.phone, "email": c.email,
                        "address": c.address.street, "provinceCode": c.address.province_code,
                        "wardCode": c.address.ward_code},
            "codAmount": item.cod_amount, "createdAt": item.created_at.isoformat(),
            "note": item.note}


@PROPERTY
@given(names, phones, moments, wards, st.integers(0, 1_000_000_000), vn_words,
       st.sampled_from(["result_ready", "pickup_requested"]))
def test_a_valid_item_survives_a_round_trip(name: str, phone: str, moment: datetime,
                                            ward: tuple[str, str], cod: int, street: str,
                                            kind: str) -> None:
    raw = _set(_set(_set(_set(_set(ITEM, "citizen.name", name), "citizen.phone", phone),
                         "createdAt", moment.isoformat()), "codAmount", cod), "type", kind)
    raw = _set(_set(_set(raw, "citizen.provinceCode", ward[0]), "citizen.wardCode", ward[1]),
               "citizen.address", f"Số 1, {street}")
    first = parse_item(raw)
    assert (first.citizen and first.citizen.name) == unicodedata.normalize("NFC", name)
    assert first.created_at == moment and first.cod_amount == cod
    again = parse_item(json.loads(json.dumps(_wire(first))))
    assert again == first


# --- webhook bodies ---------------------------------------------------------------------
headers = st.fixed_dictionaries({}, optional={
    "webhook-id": st.text(max_size=30), "webhook-timestamp": st.text(max_size=12),
    "webhook-signature": st.text(max_size=90)})


@PROPERTY
@given(st.binary(max_size=300), headers)
def test_any_unsigned_webhook_is_refused_as_a_bad_signature(body: bytes,
                                                            sent: dict[str, str]) -> None:
    try:
        verify_webhook(SECRET, sent, body)
        raise AssertionError("verified without a valid signature")
    except BadSignature:
        pass


@PROPERTY
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_signed_webhook_body_is_an_object_or_a_named_refusal(body: bytes) -> None:
    try:
        headers = sign_webhook(SECRET, "msg_1", body)
    except UnicodeDecodeError:  # not UTF-8: no sender can sign it (see the 401 test)
        return
    try:
        assert isinstance(verify_webhook(SECRET, headers, body), dict)
    except InvalidInput as err:
        assert err.field == "body" and err.code


@PROPERTY
@given(st.binary(max_size=400))
def test_any_bytes_parse_as_json_or_are_refused_with_422(body: bytes) -> None:
    try:
        parse_json(body)
    except BodyRefused as err:
        assert err.status == 422


# --- carrier tracking feed ---------------------------------------------------------------
docs = st.fixed_dictionaries({}, optional={
    "_id": json_values | st.fixed_dictionaries({"$oid": any_text | json_values}),
    "OrderNumber": json_values, "ItemCode": json_values,
    "EventTime": json_values | st.integers(-10**16, 10**16), "POSID": json_values,
    "StatusCode": json_values | st.integers(-20, 20), "StatusMessage": json_values,
    "Notes": json_values}) | json_values
pages = st.fixed_dictionaries({"_embedded": st.fixed_dictionaries(
    {"rh:doc": st.lists(docs, max_size=5)})}) | json_values


@PROPERTY
@given(pages)
def test_any_tracking_page_gives_storable_events_or_a_transient_error(body: object) -> None:
    try:
        page = parse_tracking_page(body, None)  # type: ignore[arg-type]
    except TransientError:
        return
    for ev in page.events:
        for text in (ev.event_id, ev.order_number, ev.item_code or "", ev.raw_text,
                     ev.post_office, ev.notes):
            assert not FORBIDDEN.search(text), repr(text)
        assert EARLIEST <= ev.occurred_at <= datetime.now(UTC) + timedelta(days=367)
    assert not FORBIDDEN.search(page.last_id)


# --- desk API bodies ---------------------------------------------------------------------
desk_bodies = st.dictionaries(any_text, json_values, max_size=3) | st.fixed_dictionaries(
    {"dossierCodes": st.lists(any_text | json_values, max_size=4) | json_values},
    optional={"agencyCode": json_values})


@PROPERTY
@given(desk_bodies, st.sampled_from([PickupRequest, CancelRequest]))
def test_any_desk_api_body_is_validated_or_refused_naming_a_field(
        body: dict, model: type) -> None:
    try:
        parsed = _validated(model, body)
    except BodyRefused as err:
        assert err.status == 422 and err.field and err.reason
        return
    for code in getattr(parsed, "dossierCodes", []):
        assert not FORBIDDEN.search(code) and 0 < len(code) <= 80
