"""How many legacy (pre-July-2025) wards convert to current units, and which do not.

Run: .venv/bin/python bench/legacy_address_coverage.py
Goes through every ward of the 63-province list in the `vietnamadminunits` dataset and
resolves it as a feed item would (worker/domain/addresses.py); prints the counts and the
wards that are refused, with the reason a clerk would see.
"""

from __future__ import annotations

import time

from vietnamadminunits.database import query

from worker.domain.addresses import resolve_units
from worker.domain.errors import InvalidInput


def main() -> None:
    rows = query("SELECT provinceCode, districtCode, wardCode, province, district, ward "
                 "FROM admin_units_legacy WHERE wardCode IS NOT NULL AND wardCode != ''")
    started, refused = time.monotonic(), []
    for r in rows:
        try:
            resolve_units(r["provinceCode"], r["wardCode"], r["districtCode"])
        except InvalidInput as err:
            refused.append((r["ward"], r["district"], r["province"], err.reason))
    took = time.monotonic() - started
    print(f"legacy wards: {len(rows)}  converted: {len(rows) - len(refused)}  "
          f"refused: {len(refused)}  ({took:.1f}s, {1000 * took / len(rows):.2f} ms each)")
    for ward, district, province, reason in refused:
        print(f"  {ward}, {district}, {province}: {reason}")


if __name__ == "__main__":
    main()
