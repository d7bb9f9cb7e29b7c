"""Taking hand-offs from the one-stop system (feed or webhook): once, validated, recorded."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.db.inserts import insert_new, insert_new_many
from worker.db.models import Handoff, Job, Receipt, utcnow
from worker.domain.enums import DispatchMode, EventSource, IngestOutcome
from worker.domain.errors import InvalidInput
from worker.domain.model import HandoffItem, HandoffKind, OnestopItem, RefusedItem
from worker.domain.privacy import scrub
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.rules import order_number
from worker.domain.statuses import Status
from worker.domain.validation import check_dossier_code
from worker.service import agencies
from worker.service.flow import handoffs
from worker.service.flow.agency_settings import dispatch_mode
from worker.service.flow.cancel import cancel_from_onestop
from worker.service.flow.ingested import Ingested
from worker.service.flow.isolation import Described, take_each
from worker.service.flow.waiting import hold, why_waiting
from worker.settings import Settings

ITEM_SOURCE = "onestop-item"


def describe_item(got: OnestopItem, source: EventSource) -> Described:
    """How the status log names a one-stop item that could not be taken at all."""
    return Described(f"item {got.item_id or '(không có id)'}", source,
                     dossier_code=got.dossier_code or "")


def take_receipt(session: Session, source: str, external_id: str) -> bool:
    """True the first time an id is seen. The unique index decides, not a lookup."""
    return insert_new(session, Receipt, {"source": source, "external_id": external_id[:120]})


def ingest_item(session: Session, got: OnestopItem, source: EventSource, settings: Settings,
                *, page: Page | None = None) -> Ingested:
    """Record one item. Invalid items become needs_attention; nothing raises for bad data.
    Within `ingest_page` the page has taken the receipts and read the current hand-offs."""
    item_id = got.item_id
    if item_id is None:
        why = reason(ReasonCode.ITEM_WITHOUT_ID)
        handoffs.log(session, None, _note_change(source, why.vi()), False, why,
                     dossier_code=got.dossier_code or "")
        return Ingested(IngestOutcome.INVALID, reason=why.vi(), bad_field="id", code="id.missing")
    first = page.first_time(item_id) if page else take_receipt(session, ITEM_SOURCE, item_id)
    if not first:
        return Ingested(IngestOutcome.DUPLICATE)
    item = got.read
    if isinstance(item, Exception):
        raise item  # a bug in reading it: the caller quarantines this item alone
    if isinstance(item, RefusedItem):
        return _record_invalid(session, got, item_id, source, item)
    if item.kind == HandoffKind.HANDOFF_CANCELLED:
        return cancel_from_onestop(session, item, source)
    existing = page.current(item.dossier_code, item.direction) if page else (
        handoffs.current(session, item.dossier_code, item.direction))
    made = _new_handoff(session, item, source, existing)
    if isinstance(made, Ingested):
        return made
    if page is not None:  # its INSERT, log row and post go with the page's others
        page.add(made)
        return Ingested(IngestOutcome.CREATED)
    session.flush()  # one INSERT with its status, not an INSERT then an UPDATE
    return _received(session, made, settings=settings)[0]


def ingest_page(session: Session, items: list[OnestopItem], source: EventSource,
                settings: Settings) -> list[Job]:
    """A page of feed items taken together, as `ingest_item` takes each one: the receipts
    in one statement, the dossiers' current hand-offs in one, the new hand-offs in one
    INSERT, their log rows written together and their posts in one statement (per item that
    was two round trips each, a flush and a post's own INSERT: half of a burst's CPU). An
    item that is not a plain new hand-off (a withdrawal, a refused item, a second item of
    the same dossier) is taken after the page's new hand-offs so far are written, the same
    order as one by one for each hand-off (across hand-offs, rows and jobs may be numbered
    in another order: an ignored item's log row before an earlier item's "received"; no
    one reads an order across hand-offs). The caller's savepoint holds the page: should it
    raise, each item is taken again alone (flow/isolation.py `take_each`)."""
    page = Page(session, items)
    jobs: list[Job] = []
    for got in items:
        item = got.read if got.item_id is not None else None
        plain = item if isinstance(item, HandoffItem) and (
            item.kind != HandoffKind.HANDOFF_CANCELLED) else None
        if plain is None or page.touches(plain):
            jobs += page.write(settings)
        jobs += ingest_item(session, got, source, settings, page=page).jobs
        if plain is None:  # it may have made or changed a hand-off the page read before
            page.forget(got.dossier_code)
    return jobs + page.write(settings)


def take_page(session: Session, items: list[OnestopItem], source: EventSource,
              settings: Settings) -> list[int]:
    """A feed page's items: together (`ingest_page`), or, should that fail on one item's
    account, one by one with that item quarantined (flow/isolation.py `take_each`); the
    ids of the jobs they made."""
    return take_each(session, items, lambda raw: ingest_item(session, raw, source, settings).jobs,
                     lambda raw: describe_item(raw, source),
                     lambda raws: ingest_page(session, raws, source, settings))


class Page:
    """What a page's items share: the receipts taken, the current hand-offs read, and the
    new hand-offs waiting to be written together."""

    def __init__(self, session: Session, items: list[OnestopItem]) -> None:
        self.session = session
        ids = list(dict.fromkeys(got.item_id for got in items if got.item_id is not None))
        new = insert_new_many(session, Receipt, [
            {"source": ITEM_SOURCE, "external_id": item_id[:120]} for item_id in ids],
            "external_id")
        self.unseen = new if new is not None else {  # a database that cannot: one each
            i[:120] for i in ids if take_receipt(session, ITEM_SOURCE, i)}
        codes = {got.dossier_code for got in items if got.dossier_code}
        self.known: dict[tuple[str, str], Handoff | None] = {}
        for h in handoffs.current_many(session, codes):
            self.known[(h.dossier_code, h.direction)] = h
        self.read = codes
        self.created: list[_New] = []
        self.waiting: set[str] = set()  # the dossiers of those

    def add(self, new: _New) -> None:
        self.created.append(new)
        self.waiting.add(new.item.dossier_code)

    def first_time(self, item_id: str) -> bool:
        """True for the first item of the page with this id that no earlier page had."""
        if item_id[:120] not in self.unseen:
            return False
        self.unseen.discard(item_id[:120])
        return True

    def current(self, dossier_code: str, direction: str) -> Handoff | None:
        if dossier_code not in self.read:
            return handoffs.current(self.session, dossier_code, direction)
        return self.known.get((dossier_code, direction))

    def touches(self, item: HandoffItem) -> bool:
        """True when the item's dossier has a new hand-off waiting to be written."""
        return item.dossier_code in self.waiting

    def forget(self, dossier_code: str | None) -> None:
        self.read.discard(dossier_code or "")

    def write(self, settings: Settings) -> list[Job]:
        """Write the waiting new hand-offs (one INSERT), then their log rows and posts."""
        if not self.created:
            return []
        created, self.created = self.created, []
        self.waiting.clear()
        self.session.flush()
        for new in created:
            self.known[(new.handoff.dossier_code, new.handoff.direction)] = new.handoff
        return [job for taken in _received(self.session, *created, settings=settings)
                for job in taken.jobs]


@dataclass(frozen=True)
class _New:
    """A hand-off made from an item, not yet written."""

    handoff: Handoff
    item: HandoffItem
    change: handoffs.Change


def _new_handoff(session: Session, item: HandoffItem, source: EventSource,
                 existing: Handoff | None) -> _New | Ingested:
    """The item's hand-off, added to the session (not yet written), or why not."""
    direction = item.direction
    # A cancelled or returned hand-off may be requested again (a new generation, so a new
    # OrderNumber); an active or delivered one may not.
    renewable = existing is not None and existing.status in (Status.CANCELLED, Status.RETURNED)
    if existing is not None and not _replaceable(existing) and not renewable:
        answer = f"hồ sơ đã có yêu cầu bưu chính (trạng thái {existing.status})"
        handoffs.log(session, existing, _note_change(source, answer), False,
                     reason(ReasonCode.ALREADY_REQUESTED, status=existing.status))
        return Ingested(IngestOutcome.IGNORED, existing.id, answer)
    if existing is not None and _replaceable(existing):
        # a corrected item for a hand-off that never reached the carrier
        handoff = handoffs.locked(session, existing.id)
        if not _replaceable(handoff):  # it moved since it was read (a page reads first)
            return _new_handoff(session, item, source, handoff)
    else:
        generation = (existing.generation + 1) if existing is not None else 1
        handoff = Handoff(dossier_code=item.dossier_code, direction=direction,
                          generation=generation, status=Status.REQUESTED.value)
        session.add(handoff)
    _fill(handoff, item)
    handoff.order_number = order_number(item.dossier_code, direction, handoff.generation)
    note = item.procedure_name
    if item.citizen and item.citizen.address.converted_from:
        note += (f" | địa chỉ theo đơn vị hành chính cũ ({item.citizen.address.converted_from})"
                 " đã chuyển sang đơn vị mới")
    change = handoffs.Change(Status.REQUESTED, source, utcnow(), notes=note)
    handoffs.set_status(handoff, Status.REQUESTED, change.occurred_at)  # before the flush
    return _New(handoff, item, change)


def _received(session: Session, *created: _New, settings: Settings) -> list[Ingested]:
    """The written new hand-offs' log rows, and their posts (one statement for all) or why
    they wait."""
    taken: list[Ingested] = []
    to_post: list[Handoff] = []
    for new in created:
        handoff, code = new.handoff, new.item.agency_code
        handoffs.log(session, handoff, new.change, True, reason(ReasonCode.HANDOFF_RECEIVED))
        why = why_waiting(code, agencies.get(session, code))
        if why is not None:  # kept, never dropped: taken up when the agency is added/enabled
            hold(session, handoff, why, new.change.source)
            taken.append(Ingested(IngestOutcome.CREATED, handoff.id, why.vi()))
            continue
        taken.append(Ingested(IngestOutcome.CREATED, handoff.id))
        if dispatch_mode(session, settings, code) == DispatchMode.AUTO:
            to_post.append(handoff)
    # a corrected item after a rejected post: the same order number, its post revived
    posted = {job.handoff_id: job for job in handoffs.request_posts(session, to_post)}
    for answer in taken:
        if answer.handoff_id in posted:
            answer.jobs.append(posted[answer.handoff_id])
    return taken


def _replaceable(h: Handoff) -> bool:
    return h.status == Status.NEEDS_ATTENTION and (h.last_carrier_code is None) and (
        h.accepted_at is None
    )


def _fill(h: Handoff, item: HandoffItem) -> None:
    assert item.citizen is not None
    c = item.citizen
    h.source_item_id = item.item_id
    h.agency_code, h.agency_name = item.agency_code, item.agency_name
    h.procedure_code, h.procedure_name = item.procedure_code, item.procedure_name
    h.citizen_name, h.citizen_phone, h.citizen_email = c.name, c.phone, c.email
    h.citizen_address = c.address.street
    h.province_code, h.ward_code = c.address.province_code, c.address.ward_code
    h.cod_amount, h.ready_at, h.status_reason = item.cod_amount, item.created_at, ""


def _record_invalid(session: Session, got: OnestopItem, item_id: str, source: EventSource,
                    refused: RefusedItem) -> Ingested:
    """Keep the item visible as needs_attention with the reason; never post it."""
    err = refused.error
    why = scrub(str(err))
    dossier = (got.dossier_code or f"?{item_id}")[:80]
    direction = refused.direction
    existing = handoffs.current(session, dossier, direction)
    if existing is not None and not _replaceable(existing):
        handoffs.log(session, existing, _note_change(source, why), False,
                     reason(ReasonCode.INVALID_ITEM, item_id=item_id, detail=why))
        return Ingested(IngestOutcome.INVALID, existing.id, why, bad_field=err.field, code=err.code)
    handoff = existing
    if handoff is None:
        generation = (session.scalar(select(func.max(Handoff.generation)).where(
            Handoff.dossier_code == dossier, Handoff.direction == direction)) or 0) + 1
        handoff = Handoff(dossier_code=dossier, direction=direction, generation=generation,
                          source_item_id=item_id, status=Status.NEEDS_ATTENTION.value,
                          ready_at=utcnow())
        session.add(handoff)
        session.flush()
    if refused.agency is not None:  # kept as sent, made storable, so ops see whose it is
        handoff.agency_code, handoff.agency_name = refused.agency
    change = handoffs.Change(Status.NEEDS_ATTENTION, source, utcnow(), notes=why,
                             dedup_key=f"invalid:{item_id}")
    handoffs.log(session, handoff, change, True, reason(ReasonCode.INVALID_ITEM, item_id=item_id))
    handoffs.set_status(handoff, Status.NEEDS_ATTENTION, change.occurred_at, why)
    jobs: list[Job] = []
    if _valid_code(dossier):  # tell the one-stop what to fix; it cannot know a broken code
        push = handoffs.queue_push(session, handoff, change)
        jobs = [push] if push else []
    return Ingested(IngestOutcome.INVALID, handoff.id, why, jobs, bad_field=err.field,
                    code=err.code)


def _valid_code(code: str) -> bool:
    try:
        check_dossier_code(code)
    except InvalidInput:
        return False
    return True


def _note_change(source: EventSource, note: str) -> handoffs.Change:
    return handoffs.Change(None, source, utcnow(), notes=note)
