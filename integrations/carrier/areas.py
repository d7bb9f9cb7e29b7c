"""The post office's own area codes: GSO (province, ward) -> carrier (province, district).

The table is data (integrations/carrier/data/area_codes.csv); until the post office's real
table is imported it holds placeholders (see README, Known limits).
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from worker.domain.errors import PermanentError

_AREA_CSV = Path(__file__).with_name("data") / "area_codes.csv"


@cache
def _area_codes() -> dict[tuple[int, int], tuple[int, int]]:
    with _AREA_CSV.open(encoding="utf-8", newline="") as fh:
        return {
            (int(r["gso_province"]), int(r["gso_ward"])): (
                int(r["carrier_province"]),
                int(r["carrier_district"]),
            )
            for r in csv.DictReader(fh)
        }


def carrier_area(province_code: str, ward_code: str, field: str) -> tuple[int, int]:
    """GSO (province, ward) -> carrier (province, district); PermanentError when unmapped."""
    try:
        key = (int(province_code), int(ward_code))
    except (TypeError, ValueError):
        key = None
    area = _area_codes().get(key) if key else None
    if area is None:
        raise PermanentError(
            f"xã/phường mã {ward_code} (tỉnh mã {province_code}) chưa có mã vùng của bưu điện; "
            "đề nghị bổ sung bảng mã",
            field=field,
        )
    return area
