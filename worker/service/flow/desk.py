"""Desk actions: call the courier for one or many dossiers, cancel, list who is waiting.

The web page, the HTTP API and the CLI all call these functions. Each dossier of a batch
is its own unit of work, so one bad dossier never fails the others; the ledger's unique
idempotency key makes a double click, a retried request or two clerks at once create one
order per hand-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.db.models import Attempt, Handoff, Job, utcnow
from worker.domain.enums import (
    DESK_OUTCOME_VI,
    AttemptOutcome,
    DeskOutcomeKind,
    EventSource,
    JobKind,
    JobState,
)
from worker.domain.errors import InvalidInput
from worker.domain.reason_codes import ReasonCode, reason
from worker.domain.statuses import FINAL, LABEL_VI, Status
from worker.domain.text import clean_text, sanitize_text
from worker.domain.validation import check_dossier_code
from worker.service.flow import handoffs
from worker.service.flow.cancel import request_cancel
from worker.service.flow.desk_queue import Waiting as Waiting  # the doors list the queue here
from worker.service.flow.desk_queue import pending as pending
from worker.service.flow.desk_queue import waiting_list as waiting_list
from worker.service.ledger import uow

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

OUTCOME_LABEL = DESK_OUTCOME_VI  # the doors show these words beside each outcome


@dataclass(frozen=True)
class DeskOutcome:
    dossier_code: str
    outcome: DeskOutcomeKind
    reason: str = ""  # for the clerk, in Vietnamese
    handoff_id: int | None = None

    @property
    def label(self) -> str:
        return OUTCOME_LABEL[self.outcome]

    def as_dict(self) -> dict[str, object]:
        return {"dossierCode": self.dossier_code, "outcome": self.outcome,
                "label": self.label, "reason": self.reason}


def request_pickups(rt: Runtime, codes: list[str], *, actor: str,
                    agency_code: str | None = None) -> list[DeskOutcome]:
    """Call the courier for each dossier; one outcome per distinct code, in order. Each
    dossier is its own unit of work (one bad dossier never fails the others); the posts of
    the whole batch are rung together once the last one has committed."""
    outcomes = []
    with uow.batch(rt):
        for code in dict.fromkeys(c.strip() for c in codes if c and c.strip()):
            with uow.begin(rt) as s:
                outcomes.append(_request_one(s, code, actor, agency_code)[0])
    return outcomes


def _checked(code: object) -> str | DeskOutcome:
    """A dossier code as typed at any door (page, API, CLI), or the refusal to show.

    Checked here, once for every door: text that cannot be stored or shown (a lone
    surrogate from a mis-decoded argument, a NUL) never reaches a query or a page.
    """
    try:
        return check_dossier_code(clean_text(code, "dossierCode", max_len=80, required=True,
                                             what="mã hồ sơ"))
    except InvalidInput as err:
        return DeskOutcome(sanitize_text(code, 80), DeskOutcomeKind.REFUSED, err.reason)


def _request_one(s: Session, code: str, actor: str, agency_code: str | None
                 ) -> tuple[DeskOutcome, Job | None]:
    checked = _checked(code)
    if isinstance(checked, DeskOutcome):
        return checked, None
    code = checked
    found = _find(s, code, agency_code)
    if isinstance(found, DeskOutcome):
        return found, None
    h = handoffs.locked(s, found.id)  # a cancel or another clerk waits for us
    if h.status == Status.NEEDS_ATTENTION:
        return DeskOutcome(code, DeskOutcomeKind.REFUSED, _attention_reason(s, h), h.id), None
    if Status(h.status) in FINAL:
        return DeskOutcome(code, DeskOutcomeKind.REFUSED,
                           f"yêu cầu đã kết thúc ({LABEL_VI[Status(h.status)]})", h.id), None
    # a post that failed for good before (its cause since corrected) is sent again
    job = handoffs.request_post(s, h)
    if job is None:
        return DeskOutcome(code, DeskOutcomeKind.ALREADY_ORDERED, "", h.id), None
    handoffs.log(s, h, handoffs.Change(None, EventSource.DESK, utcnow(),
                                       notes=f"gọi bưu tá: {actor}"),
                 True, reason(ReasonCode.COURIER_CALLED))
    return DeskOutcome(code, DeskOutcomeKind.ORDERED, "", h.id), job


def _attention_reason(s: Session, h: Handoff) -> str:
    """Why a clerk cannot call the courier for a hand-off that needs attention, and who acts."""
    post = s.scalar(select(Job).where(Job.handoff_id == h.id,
                                      Job.kind == JobKind.POST_ORDER,
                                      Job.state == JobState.DEAD))
    if post is None:  # the item itself was invalid: the dossier must be corrected
        return f"hồ sơ cần sửa trước: {h.status_reason}"
    if _died_of(s, post) == AttemptOutcome.EXHAUSTED:
        return ("bưu điện chưa nhận được yêu cầu sau nhiều lần gửi; bộ phận vận hành sẽ "
                "kiểm tra và gửi lại")
    return (f"bưu điện từ chối yêu cầu: {h.status_reason}; sửa thông tin trên hệ thống một "
            "cửa rồi gửi lại")


def _died_of(s: Session, job: Job) -> str | None:
    """How the try that settled a dead job ended (a stored fact, not its error's words): the
    latest try numbered as the job's last; a stale try bears an older number."""
    return s.scalar(select(Attempt.outcome).where(Attempt.job_id == job.id,
                                                  Attempt.number == job.attempts)
                    .order_by(Attempt.id.desc()).limit(1))


UNKNOWN_VI = "không có hồ sơ này trong danh sách gửi bưu chính"


def _find(s: Session, code: str, agency_code: str | None) -> Handoff | DeskOutcome:
    """The dossier's newest hand-off, preferring one still waiting for a courier.

    A caller scoped to an agency (a clerk, an agency's token) is answered about another
    agency's dossier exactly as about one that does not exist: it never learns that
    another agency's code is real."""
    q = select(Handoff).where(Handoff.dossier_code == code)
    if agency_code:
        q = q.where(Handoff.agency_code == agency_code)
    mine = list(s.scalars(q.order_by(Handoff.generation.desc(), Handoff.id.desc())))
    if not mine:
        return DeskOutcome(code, DeskOutcomeKind.REFUSED, UNKNOWN_VI)
    waiting = [h for h in mine if h.status == Status.REQUESTED]
    return (waiting or mine)[0]


def cancel(rt: Runtime, code: str, *, actor: str, agency_code: str | None = None
           ) -> DeskOutcome:
    checked = _checked(code)
    if isinstance(checked, DeskOutcome):
        return checked
    code = checked
    with uow.begin(rt) as s:
        found = _find(s, code, agency_code)
        if isinstance(found, DeskOutcome):
            return found
        h = handoffs.locked(s, found.id)
        result = request_cancel(s, h, EventSource.DESK, f"hủy tại bàn một cửa: {actor}")
        hid = h.id
    if not result.accepted:
        return DeskOutcome(code, DeskOutcomeKind.REFUSED, result.reason, hid)
    outcome = (DeskOutcomeKind.CANCEL_REQUESTED if result.at_carrier
               else DeskOutcomeKind.CANCELLED)
    return DeskOutcome(code, outcome, result.reason, hid)
