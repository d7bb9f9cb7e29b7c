"""What a clerk reads when the courier cannot be called for a hand-off that needs attention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.db.engine import Database
from worker.db.models import Attempt, Handoff, Job
from worker.service.flow.desk import _request_one


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


def _handoff(db: Database, n: int, reason: str, dead_post: tuple[str, str] | None) -> str:
    """A hand-off needing attention; with a dead post whose last try ended as told."""
    code = f"000.00.17.H19-261126-{n:04d}"
    with db.unit_of_work() as s:
        h = Handoff(dossier_code=code, direction="result_delivery", source_item_id=code,
                    order_number=f"{code}/R1", status="needs_attention", status_reason=reason,
                    ready_at=datetime.now(UTC))
        s.add(h)
        s.flush()
        if dead_post is not None:
            error, outcome = dead_post
            post = Job(kind="post_order", handoff_id=h.id, idempotency_key=f"post:{code}/R1",
                       state="dead", attempts=3, last_error=error)
            s.add(post)
            s.flush()
            s.add_all([Attempt(job_id=post.id, number=k, outcome="transient", error="HTTP 503")
                       for k in (1, 2)])
            s.add(Attempt(job_id=post.id, number=3, outcome=outcome, error=error))
    return code


@pytest.mark.parametrize("reason,dead_post,expected", [
    ("citizen.phone: thiếu số điện thoại", None, "hồ sơ cần sửa trước: citizen.phone"),
    ("Bưu điện từ chối đơn: sai mã vùng", ("Bưu điện từ chối đơn: sai mã vùng", "permanent"),
     "bưu điện từ chối yêu cầu"),
    ("không gửi được sau 12 lần thử: bưu điện tạm thời lỗi (HTTP 503)",
     ("không gửi được sau 12 lần thử: bưu điện tạm thời lỗi (HTTP 503)", "exhausted"),
     "bộ phận vận hành sẽ kiểm tra và gửi lại"),
    # the tries' outcome decides, not the error's words
    ("lỗi lạ", ("lỗi lạ", "exhausted"), "bộ phận vận hành sẽ kiểm tra và gửi lại"),
    ("không gửi được sau: từ chối", ("không gửi được sau: từ chối", "permanent"),
     "bưu điện từ chối yêu cầu"),
])
def test_the_clerk_is_told_who_must_act(db, reason, dead_post, expected):
    code = _handoff(db, 1, reason, dead_post)
    with db.unit_of_work() as s:
        outcome, job = _request_one(s, code, "desk", None)
    assert outcome.outcome == "refused" and job is None
    assert expected in outcome.reason
    assert "HTTP" not in outcome.reason or dead_post is None or "lần thử" not in dead_post[0]
