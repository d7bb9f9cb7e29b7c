"""The post office's area table as rules: read a hand-over file, check it against the wards
in force, tell what an import would change.

The table maps each current GSO ward (province, ward) to the carrier's own (province,
district) codes. The wards in force come from `vietnam_provinces`, the domain's reference
of the units since 1 July 2025 (as `validation.check_unit_codes` uses it): a table is
judged against the same list an address is. Nothing here reads a file or a database:
the command reads the bytes, the service reads and swaps the stored table.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from vietnam_provinces import Province, Ward

COLUMNS = ("gso_province", "gso_ward", "carrier_province", "carrier_district")
MAX_ROWS = 100_000  # thirty times the country's wards: anything longer is not this table
MAX_SAMPLE = 10  # wards named per province when some are missing
_CODE = re.compile(r"[0-9]{1,9}")  # a positive code that fits every database's integer

Key = tuple[int, int]  # GSO (province, ward)
Area = tuple[int, int]  # carrier (province, district)


@dataclass(frozen=True)
class Problem:
    """Why a table is refused: the line of the file (0: the file as a whole), in Vietnamese."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"dòng {self.line}: {self.reason}" if self.line else self.reason


@dataclass(frozen=True)
class Checked:
    """A file read and judged: its table when `problems` is empty."""

    areas: dict[Key, Area]
    problems: list[Problem]
    repeated: int = 0  # lines that said again exactly what an earlier line said


@dataclass(frozen=True)
class Changes:
    """What replacing `old` by `new` changes, key by key (sorted)."""

    added: list[tuple[Key, Area]] = field(default_factory=list)
    changed: list[tuple[Key, Area, Area]] = field(default_factory=list)  # key, old, new
    removed: list[tuple[Key, Area]] = field(default_factory=list)
    unchanged: int = 0


@cache
def current_wards() -> Mapping[int, int]:
    """Every ward in force (GSO ward code -> its GSO province code)."""
    return {int(w.code): int(w.province_code) for w in Ward.iter_all()}


def ward_name(code: int) -> str:
    try:
        return str(Ward.from_code(code).name)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"


def province_name(code: int) -> str:
    try:
        return str(Province.from_code(code).name)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"


def placeholder_table(current: Mapping[int, int]) -> dict[Key, Area]:
    """The placeholder codes shipped until the post office's table is imported: carrier
    province = GSO province, carrier district = province * 1000 + the ward's rank in its
    province (by GSO ward code). Derived, not real; unique across the country."""
    by_province: dict[int, list[int]] = defaultdict(list)
    for ward, province in current.items():
        by_province[province].append(ward)
    return {(p, w): (p, p * 1000 + rank)
            for p in sorted(by_province)
            for rank, w in enumerate(sorted(by_province[p]), start=1)}


def check(text: str, current: Mapping[int, int]) -> Checked:
    """Read a CSV table (header gso_province,gso_ward,carrier_province,carrier_district)
    and judge it: codes well formed, each ward in force and in the province given, one
    area per ward, one carrier province per carrier district, every ward in force mapped."""
    areas: dict[Key, Area] = {}
    problems: list[Problem] = []
    line_of: dict[Key, int] = {}
    district_of: dict[int, tuple[int, int]] = {}  # carrier district -> (province, line)
    mentioned: set[int] = set()  # wards a line named, even a refused line
    repeated = data_lines = 0
    rows = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    try:
        for cells in rows:
            line = rows.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().lstrip("\ufeff").lower() for c in cells]
                if tuple(header) != COLUMNS:
                    return Checked({}, [Problem(line, "dòng tiêu đề phải là "
                                                f"{','.join(COLUMNS)}")])
                continue
            data_lines += 1
            if data_lines > MAX_ROWS:
                return Checked({}, [Problem(line, f"tệp có hơn {MAX_ROWS} dòng dữ liệu; "
                                                  "đây không phải bảng mã vùng")])
            if len(cells) > 1 and _CODE.fullmatch(cells[1].strip()):
                mentioned.add(int(cells[1]))
            row = _row(cells, line, problems)
            if row is None:
                continue
            key, area = row
            if not _in_force(key, line, current, problems):
                continue
            if key in areas:
                if areas[key] == area:
                    repeated += 1
                else:
                    problems.append(Problem(line, (
                        f"xã/phường mã {key[1]} đã có ở dòng {line_of[key]} với mã vùng "
                        f"{_area(areas[key])}, dòng này ghi {_area(area)}")))
                continue
            owner = district_of.setdefault(area[1], (area[0], line))
            if owner[0] != area[0]:
                problems.append(Problem(line, (
                    f"mã quận/huyện của bưu điện {area[1]} thuộc mã tỉnh {owner[0]} ở dòng "
                    f"{owner[1]}, dòng này ghi mã tỉnh {area[0]}")))
                continue
            areas[key], line_of[key] = area, line
    except csv.Error as err:
        return Checked({}, [Problem(rows.line_num, f"tệp CSV không đọc được ({err})")])
    if header is None:
        return Checked({}, [Problem(0, "tệp trống: cần dòng tiêu đề "
                                       f"{','.join(COLUMNS)} và các dòng mã vùng")])
    problems += _missing(areas, current, mentioned)
    return Checked(areas if not problems else {}, problems, repeated)


def _row(cells: list[str], line: int, problems: list[Problem]) -> tuple[Key, Area] | None:
    if len(cells) != len(COLUMNS):
        problems.append(Problem(line, f"có {len(cells)} cột, cần {len(COLUMNS)} "
                                      f"({','.join(COLUMNS)})"))
        return None
    codes: list[int] = []
    for name, cell in zip(COLUMNS, cells, strict=True):
        value = cell.strip()
        if not _CODE.fullmatch(value) or int(value) == 0:
            shown = value[:20].encode("ascii", "backslashreplace").decode()
            problems.append(Problem(line, f"{name} '{shown}' không phải số nguyên dương "
                                          "(tối đa 9 chữ số)"))
            return None
        codes.append(int(value))
    return (codes[0], codes[1]), (codes[2], codes[3])


def _in_force(key: Key, line: int, current: Mapping[int, int],
              problems: list[Problem]) -> bool:
    province, ward = key
    if ward not in current:
        problems.append(Problem(line, f"xã/phường mã {ward} không có trong danh mục "
                                      "xã/phường hiện hành (từ 1/7/2025)"))
        return False
    if current[ward] != province:
        problems.append(Problem(line, (
            f"xã/phường mã {ward} ({ward_name(ward)}) thuộc tỉnh mã {current[ward]} "
            f"({province_name(current[ward])}), không phải tỉnh mã {province}")))
        return False
    return True


def _missing(areas: Mapping[Key, Area], current: Mapping[int, int],
             mentioned: set[int]) -> list[Problem]:
    """One problem per province whose wards in force are not all in the table (a ward a
    refused line named is not counted again as missing)."""
    missing = {p: [w for w in wards if w not in mentioned]
               for p, wards in unmapped(areas, current).items()}
    return [Problem(0, f"thiếu {len(wards)} xã/phường của {province_name(p)} (mã {p}): "
                       + ", ".join(f"{w} {ward_name(w)}" for w in wards[:MAX_SAMPLE])
                       + (f" và {len(wards) - MAX_SAMPLE} xã/phường khác"
                          if len(wards) > MAX_SAMPLE else ""))
            for p, wards in missing.items() if wards]


def unmapped(areas: Iterable[Key], current: Mapping[int, int]) -> dict[int, list[int]]:
    """Wards in force the table does not map, by province (both sorted)."""
    mapped = set(areas)
    out: dict[int, list[int]] = defaultdict(list)
    for ward, province in sorted(current.items()):
        if (province, ward) not in mapped:
            out[province].append(ward)
    return dict(sorted(out.items()))


def stale(areas: Iterable[Key], current: Mapping[int, int]) -> list[Key]:
    """Keys of the table that are no ward in force (a table older than the unit list)."""
    return sorted(k for k in areas if current.get(k[1]) != k[0])


def changes(old: Mapping[Key, Area], new: Mapping[Key, Area]) -> Changes:
    out = Changes()
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            out.added.append((key, new[key]))
        elif key not in new:
            out.removed.append((key, old[key]))
        elif old[key] != new[key]:
            out.changed.append((key, old[key], new[key]))
    unchanged = len(old.keys() & new.keys()) - len(out.changed)
    return Changes(out.added, out.changed, out.removed, unchanged)


def sample_lines(c: Changes, limit: int = 10) -> list[str]:
    """A few of the changes, as a person reads them (ward named, old -> new codes)."""
    lines = [f"+ {_ward(k)}: {_area(a)}" for k, a in c.added[:limit]]
    lines += [f"~ {_ward(k)}: {_area(a)} → {_area(b)}" for k, a, b in c.changed[:limit]]
    lines += [f"- {_ward(k)}: {_area(a)}" for k, a in c.removed[:limit]]
    return lines


def _ward(key: Key) -> str:
    return f"{ward_name(key[1])}, {province_name(key[0])} ({key[0]}/{key[1]})"


def _area(area: Area) -> str:
    return f"{area[0]}/{area[1]}"
