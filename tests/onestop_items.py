"""A valid one-stop hand-off item, and copies of it with fields changed (tests only)."""

from __future__ import annotations

import copy

ITEM = {
    "id": "hof_01JD3Q6T1V", "type": "result_ready",
    "dossierCode": "000.00.17.H19-201126-0001",
    "procedure": {"code": "1.004227", "name": "Cấp giấy phép xây dựng"},
    "agency": {"code": "000.00.17.H19", "name": "UBND xã Lai Vung"},
    "citizen": {"name": "Nguyễn Thị Hồng", "phone": "0912 345 678", "email": None,
                "address": "Số 12, ấp Tân Thạnh", "provinceCode": "82", "wardCode": "30226"},
    "codAmount": 0, "createdAt": "2026-11-26T09:15:00+07:00", "note": "",
}


def changed(base: dict | None = None, **changes: object) -> dict:
    """A deep copy of `base` (ITEM) with `citizen__name=...` style changes; `...` removes."""
    raw = copy.deepcopy(ITEM if base is None else base)
    for path, value in changes.items():
        target = raw
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        if value is ...:
            target.pop(last, None)
        else:
            target[last] = value
    return raw


def numbered(n: int, **changes: object) -> dict:
    """ITEM as the n-th item of a test: its own id and dossier code, then `changes`."""
    own = {"id": f"hof_t{n:03d}", "dossierCode": f"000.00.17.H19-291126-{9000 + n:04d}"}
    return changed(**{**own, **changes})
