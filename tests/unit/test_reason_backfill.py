"""Migration 0006 reads the old rows' English reasons once into codes and parameters."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import create_engine, text

from worker.db.migrate import alembic_config
from worker.domain.reason_codes import ReasonCode, stored

OLD = {
    "forward": ("forward", {}),
    "late event (in_transit after delivered)": ("late_event",
                                                {"new": "in_transit", "current": "delivered"}),
    "already final (cancelled)": ("already_final", {"current": "cancelled"}),
    "duplicate event (feed id 65f1)": ("duplicate_event", {"event_id": "65f1"}),
    "invalid item hof_9 ignored: citizen.phone: sai": ("invalid_item", {
        "item_id": "hof_9", "detail": "citizen.phone: sai"}),
    "cancel refused: courier already took the item": ("cancel_refused",
                                                      {"why": "courier_took_item"}),
    "replayed post_order": ("replayed", {"kind": "post_order"}),
    "cancel refused: already final (delivered)": ("cancel_refused", {
        "why": "already_final", "current": "delivered"}),
    "mục không có id; không thể ghi nhận": ("item_without_id", {}),
    "hồ sơ đã có yêu cầu bưu chính (trạng thái accepted)": ("already_requested",
                                                            {"status": "accepted"}),
    "không xử lý được item hof_1: TypeError": ("entry_not_taken", {"what": "item hof_1",
                                                                   "error": "TypeError"}),
    "đã đưa vào hàng đợi chạy lại": ("legacy", {"text": "đã đưa vào hàng đợi chạy lại"}),
}


def test_old_reasons_become_codes_and_read_back_in_both_languages(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        for n, words in enumerate(OLD):
            conn.execute(text(
                "INSERT INTO status_log (id, dossier_code, order_number, source, raw_code, "
                "raw_text, post_office, notes, applied, reason, occurred_at, recorded_at) "
                "VALUES (:id, '', '', 'feed', '', '', '', '', 1, :reason, "
                "'2026-11-26 00:00:00', '2026-11-26 00:00:00')"), {"id": n + 1, "reason": words})
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT reason, reason_code, reason_params FROM status_log "
                                 "ORDER BY id")).all()
    engine.dispose()

    for (words, code, params), (expected_code, expected_params) in zip(rows, OLD.values(),
                                                                       strict=True):
        assert (code, json.loads(params)) == (expected_code, expected_params), words
        assert stored(code, json.loads(params), words).vi()
    late = stored(rows[1][1], json.loads(rows[1][2]))
    assert late.code is ReasonCode.LATE_EVENT and late.en() == rows[1][0]
    for words, code, params in rows:  # an old English reason reads back as the same words
        if words.isascii():
            assert stored(code, json.loads(params)).en() == words
    entry = stored(rows[-2][1], json.loads(rows[-2][2]))  # an old Vietnamese one, now coded
    assert entry.vi() == "không xử lý được item hof_1: TypeError"
