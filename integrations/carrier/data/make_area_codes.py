"""Generate area_codes.csv: GSO (province, ward) -> the carrier's own (province, district) codes.

The real VNPost area code table is not public, so these codes are DERIVED, not real:

- ``carrier_province`` = the GSO province code (1..96) of the 34 provinces in force
  since 1 July 2025;
- ``carrier_district`` = ``carrier_province * 1000 + rank``, where ``rank`` (1-based) is
  the ward's position among its province's wards sorted by GSO ward code. Provinces have
  up to 168 wards, so ``* 1000`` keeps every number unique across the country.

The rule is deterministic: re-running the script on the same ``vietnam_provinces``
release gives the same file. A real deployment replaces area_codes.csv with the table
the post office hands over (same columns) and nothing else changes.

Run: ``.venv/bin/python integrations/carrier/data/make_area_codes.py``
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from vietnam_provinces import Ward

OUT = Path(__file__).with_name("area_codes.csv")
COLUMNS = ("gso_province", "gso_ward", "carrier_province", "carrier_district")


def rows() -> list[tuple[int, int, int, int]]:
    by_province: dict[int, list[int]] = defaultdict(list)
    for ward in Ward.iter_all():
        by_province[int(ward.province_code)].append(int(ward.code))
    out = []
    for province in sorted(by_province):
        for rank, ward_code in enumerate(sorted(by_province[province]), start=1):
            out.append((province, ward_code, province, province * 1000 + rank))
    return out


def main() -> None:
    data = rows()
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(data)
    print(f"wrote {len(data)} rows to {OUT}")


if __name__ == "__main__":
    main()
