"""Generate area_codes.csv: GSO (province, ward) -> placeholder carrier (province, district).

The real VNPost area code table is not public, so these codes are DERIVED, not real
(the rule is `worker.domain.area_table.placeholder_table`):

- ``carrier_province`` = the GSO province code (1..96) of the 34 provinces in force
  since 1 July 2025;
- ``carrier_district`` = ``carrier_province * 1000 + rank``, where ``rank`` (1-based) is
  the ward's position among its province's wards sorted by GSO ward code. Provinces have
  up to 168 wards, so ``* 1000`` keeps every number unique across the country.

The rule is deterministic: re-running the script on the same ``vietnam_provinces``
release gives the same file. Migration 0009 loads this file into the database (marked as
placeholders); a deployment imports the post office's table over it with
``handoff areas import FILE`` (same columns) and nothing else changes.

Run: ``.venv/bin/python -m worker.db.seed.make_area_codes``
"""

from __future__ import annotations

import csv
from pathlib import Path

from worker.domain.area_table import COLUMNS, current_wards, placeholder_table

OUT = Path(__file__).with_name("area_codes.csv")


def main() -> None:
    table = placeholder_table(current_wards())
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows((*key, *area) for key, area in table.items())
    print(f"wrote {len(table)} rows to {OUT}")


if __name__ == "__main__":
    main()
