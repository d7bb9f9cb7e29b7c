"""Coded reasons: every code has its Vietnamese and English words in the one catalogue."""

from __future__ import annotations

import pytest

from worker.domain.reason_codes import CATALOGUE, Reason, ReasonCode, reason, stored

PARAMS = {"current": "delivered", "new": "in_transit", "status": "accepted", "item_id": "hof_1",
          "what": "item hof_1", "error": "ValueError", "event_id": "65f1",
          "why": "courier_took_item", "kind": "post_order", "text": "old words",
          "agency": "000.00.17.H19", "number": "BB-000.00.17.H19-20261126-001",
          "by": "BB-000.00.17.H19-20261126-002"}


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_code_has_both_texts_and_renders_with_its_parameters(code: ReasonCode) -> None:
    assert code in CATALOGUE
    r = Reason(code, PARAMS)
    assert r.vi() and r.en() and "{" not in r.vi() + r.en()


def test_parameters_are_shown_in_each_language() -> None:
    late = reason(ReasonCode.LATE_EVENT, new="in_transit", current="delivered")
    assert late.en() == "late event (in_transit after delivered)"
    assert late.vi() == "tin đến muộn (Đang vận chuyển sau Phát thành công), không lùi trạng thái"
    refused = reason(ReasonCode.CANCEL_REFUSED, why=ReasonCode.COURIER_TOOK_ITEM)
    assert refused.vi() == "không hủy được: bưu tá đã nhận hồ sơ"
    assert reason(ReasonCode.REPLAYED, kind="post_order").vi().endswith(
        "(gửi yêu cầu bưu chính)")


def test_a_stored_reason_reads_back_and_an_old_row_shows_its_words() -> None:
    r = reason(ReasonCode.DUPLICATE_EVENT, event_id="65f1")
    assert stored(r.code, dict(r.params)) == r
    assert stored(None, None, "forward (old row)").vi() == "forward (old row)"
    assert stored("no-such-code", {}, "x").code is ReasonCode.LEGACY
