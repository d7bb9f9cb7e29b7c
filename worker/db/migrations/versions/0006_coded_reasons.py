"""coded reasons in the status log (reason_code, reason_params), old rows backfilled

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:40:00

The old rows' English reasons are read once, here, into codes and parameters: this is the
only place that ever parses a reason's words (the patterns are frozen with the migration).
A reason it does not recognise keeps its words as a `legacy` reason.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_EXACT = {
    "forward": "forward", "same status again": "same_status",
    "another attempt": "another_attempt", "new delivery round": "new_delivery_round",
    "unknown carrier code": "unknown_code", "informational code": "informational",
    "hand-off received": "handoff_received", "permanent error": "permanent_error",
    "courier called at the desk": "courier_called",
    "cancel requested at the carrier": "cancel_requested",
    "cancel refused by the carrier": "cancel_refused_by_carrier",
    "order not known to this worker": "order_not_known", "replayed": "replayed",
    "courier already took the item": "courier_took_item",
    "not yet picked up": "not_yet_picked_up",
    # written in Vietnamese before reasons were coded
    "mục không có id; không thể ghi nhận": "item_without_id",
}
_PATTERNS = [
    (re.compile(r"^late event \((?P<new>[a-z_]+) after (?P<current>[a-z_]+)\)$"), "late_event"),
    (re.compile(r"^already final \((?P<current>[a-z_]+)\)$"), "already_final"),
    (re.compile(r"^duplicate event \(feed id (?P<event_id>.*)\)$"), "duplicate_event"),
    (re.compile(r"^invalid item (?P<item_id>\S+)(?: ignored: (?P<detail>.*))?$", re.DOTALL),
     "invalid_item"),
    (re.compile(r"^replayed (?P<kind>[a-z_]+)$"), "replayed"),
    (re.compile(r"^hồ sơ đã có yêu cầu bưu chính \(trạng thái (?P<status>[a-z_]+)\)$"),
     "already_requested"),
    (re.compile(r"^không xử lý được (?P<what>.*): (?P<error>\w+)$", re.DOTALL), "entry_not_taken"),
]
_FINAL = re.compile(r"^already final \((?P<current>[a-z_]+)\)$")


def _code_of(text: str) -> tuple[str, dict]:
    text = (text or "").strip()
    if text in _EXACT:
        return _EXACT[text], {}
    if text.startswith("cancel refused: "):
        cause = text.removeprefix("cancel refused: ")
        inner = _EXACT.get(cause)
        if inner:
            return "cancel_refused", {"why": inner}
        final = _FINAL.match(cause)
        if final:  # the refusal's own reason keeps its parameter beside it
            return "cancel_refused", {"why": "already_final", "current": final["current"]}
    for pattern, code in _PATTERNS:
        m = pattern.match(text)
        if m:
            return code, {k: v for k, v in m.groupdict().items() if v is not None}
    return "legacy", {"text": text}


def upgrade() -> None:
    with op.batch_alter_table('status_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reason_params', sa.JSON(), nullable=True))
    conn = op.get_bind()
    log = sa.table('status_log', sa.column('id', sa.Integer), sa.column('reason', sa.Text),
                   sa.column('reason_code', sa.String), sa.column('reason_params', sa.JSON))
    rows = conn.execute(sa.select(log.c.id, log.c.reason)).all()
    for row_id, text in rows:
        code, params = _code_of(text)
        conn.execute(log.update().where(log.c.id == row_id)
                     .values(reason_code=code, reason_params=params))


def downgrade() -> None:
    with op.batch_alter_table('status_log', schema=None) as batch_op:
        batch_op.drop_column('reason_params')
        batch_op.drop_column('reason_code')
