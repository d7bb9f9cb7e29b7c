"""The post office's area table in the database: give an order its carrier area codes,
swap the whole table, say where it came from and what it lacks.

Orders read the table at the moment they are built, inside the job's transaction (one query
per order, by primary key; a batch's orders one query in all, `read_ahead`, the areas read
kept until the transaction ends); `swap` replaces every row in one transaction. So every
process uses a new table from its next transaction on, and no order ever mixes two tables:
an order's areas come from one query (all of them read again when one is not known yet). The
carrier adapter never reads the table: the codes travel in `Address.carrier_area`, and an
unmapped ward (None) is refused there, as a permanent error naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.orm import Session

from worker.db.models import CarrierArea, CarrierAreaTable, utcnow
from worker.domain import area_table
from worker.domain.area_table import Area, Changes, Key
from worker.domain.model import Address, CarrierOrder, Contact

TABLE_ID = 1  # the one row of carrier_area_table
PLACEHOLDER_NOTICE = (
    "Bảng mã vùng của bưu điện đang là mã tạm thời (chưa phải bảng của bưu điện): đơn gửi "
    "đi sẽ mang mã vùng sai tại bưu điện thật. Hãy nhập bảng mã vùng do bưu điện cung cấp "
    "bằng lệnh: handoff areas import TỆP")


@dataclass(frozen=True)
class TableInfo:
    """Where the table in use came from (carrier_area_table's row)."""

    source: str
    placeholder: bool
    row_count: int
    imported_at: datetime | None
    imported_by: str


def resolve(session: Session, order: CarrierOrder) -> CarrierOrder:
    """The order with each party's carrier area filled from the table (one query, none for
    the areas this transaction read already); a ward the table does not map keeps None and
    the adapter refuses it, naming the field."""
    parties = (order.sender, order.receiver)
    keys = {k for k in map(_key, parties) if k is not None}
    if not keys:
        return order
    found = _areas(session, keys)

    def filled(c: Contact) -> Contact:
        key = _key(c)
        area = found.get(key) if key is not None else None
        return replace(c, address=replace(c.address, carrier_area=area))

    return replace(order, sender=filled(order.sender), receiver=filled(order.receiver))


def read_ahead(session: Session, places: Iterable[tuple[str, str]]) -> None:
    """Read the areas of these (province, ward) codes in one query, for the orders this
    transaction builds next (a batch's posts, their citizens and their agencies: one
    query, not one each)."""
    _areas(session, {k for p, w in places if (k := _key_of(p, w)) is not None})


# the areas a transaction has read, by key (None: not in the table), kept until it ends
_READ = "areas.read"


def _areas(session: Session, keys: set[Key]) -> dict[Key, Area]:
    """The table's areas of `keys` (those it maps), read once per transaction."""
    transaction = session.get_transaction()
    held: tuple[object, dict[Key, Area | None]] | None = session.info.get(_READ)
    if held is None or held[0] is not transaction:  # another transaction's: let them go
        held = session.info[_READ] = (transaction, {})
    read = held[1]
    if keys - read.keys():  # all of them again, in one query: one table's (see above)
        # plain rows, not objects of the session: nothing to track, and nothing for each
        # later flush of the transaction to look through
        found = {(p, w): (cp, cd) for p, w, cp, cd in session.execute(select(
            CarrierArea.gso_province, CarrierArea.gso_ward, CarrierArea.carrier_province,
            CarrierArea.carrier_district).where(or_(*(
                and_(CarrierArea.gso_province == p, CarrierArea.gso_ward == w)
                for p, w in keys))))}
        read.update({k: found.get(k) for k in keys})
    return {k: area for k in keys if (area := read[k]) is not None}


def _key(contact: Contact) -> Key | None:
    a: Address = contact.address
    return _key_of(a.province_code, a.ward_code)


def _key_of(province: str | None, ward: str | None) -> Key | None:
    try:
        return int(province), int(ward)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def info(session: Session) -> TableInfo:
    row = session.get(CarrierAreaTable, TABLE_ID)
    if row is None:  # a table filled by hand, outside the migration: judge it as unknown
        count = len(current(session))
        return TableInfo("", True, count, None, "")
    return TableInfo(row.source, row.placeholder, row.row_count, row.imported_at,
                     row.imported_by)


def placeholder_notice(session: Session) -> str | None:
    """The warning ops read while the placeholders are in use, else None."""
    return PLACEHOLDER_NOTICE if info(session).placeholder else None


def current(session: Session) -> dict[Key, Area]:
    return {(r.gso_province, r.gso_ward): (r.carrier_province, r.carrier_district)
            for r in session.execute(select(CarrierArea)).scalars()}


def unmapped(session: Session) -> dict[int, list[int]]:
    """Wards in force the table in use does not map, by province."""
    return area_table.unmapped(current(session), area_table.current_wards())


def swap(session: Session, new: Mapping[Key, Area], *, source: str, actor: str,
         apply: bool = True) -> Changes:
    """Replace the whole table by `new` (already checked: area_table.check) in this
    session's transaction; what changes. `apply=False` only tells (a dry run).

    The table's row is locked first, so two imports at once queue and each compares with
    the table it replaces. A table equal to the derived placeholders stays flagged."""
    meta = session.scalar(select(CarrierAreaTable).where(CarrierAreaTable.id == TABLE_ID)
                          .with_for_update())
    diff = area_table.changes(current(session), new)
    if not apply:
        return diff
    session.execute(delete(CarrierArea))
    session.execute(insert(CarrierArea), [
        {"gso_province": p, "gso_ward": w, "carrier_province": cp, "carrier_district": cd}
        for (p, w), (cp, cd) in sorted(new.items())])
    if meta is None:
        meta = CarrierAreaTable(id=TABLE_ID)
        session.add(meta)
    meta.source = source[:200]
    meta.placeholder = dict(new) == area_table.placeholder_table(area_table.current_wards())
    meta.row_count = len(new)
    meta.imported_at = utcnow()
    meta.imported_by = actor[:80]
    return diff
