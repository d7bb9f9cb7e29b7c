"""Seeded, realistic Vietnamese hand-off items for the one-stop simulator (pure, no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from vietnam_provinces import Ward

from worker.domain.enums import VN_TZ
from worker.domain.model import HandoffKind

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Võ", "Huỳnh", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý", "Trương", "Phan"]
MIDDLE = ["Thị", "Văn", "Hoàng", "Thu", "Minh", "Ngọc", "Quốc", "Thanh", "Đức", "Mỹ", "Kim"]
GIVEN = ["Hồng", "Bình", "Nam", "Trang", "Khang", "Lan", "Việt", "Hương", "Tuấn", "Phúc",
         "Nhung", "Dũng", "Thảo", "Hải", "Yến", "Đạt", "Ánh", "Quyên", "Lộc", "Trâm"]
HAMLETS = ["Tân Thạnh", "Long Thắng", "Hòa Long", "Tân Phước", "Phong Hòa", "Vĩnh Thới",
           "An Bình", "Mỹ Hưng"]
STREETS = ["Nguyễn Huệ", "Lê Lợi", "Trần Hưng Đạo", "Hai Bà Trưng", "Lý Thường Kiệt",
           "Nguyễn Trãi", "Phạm Ngũ Lão", "Võ Văn Kiệt", "Hùng Vương", "30 Tháng 4"]
MOBILE_PREFIXES = ["090", "091", "093", "094", "096", "097", "098", "086", "088", "089",
                   "032", "033", "035", "037", "039", "070", "076", "077", "079", "081",
                   "083", "085", "056", "058"]
PROCEDURES = [
    ("1.004227", "Cấp giấy phép xây dựng"),
    ("2.000908", "Chứng thực bản sao từ bản chính giấy tờ, văn bản"),
    ("1.001612", "Đăng ký khai sinh"),
    ("1.000894", "Đăng ký kết hôn"),
    ("2.000635", "Cấp bản sao trích lục hộ tịch"),
]
# (agency code, agency name, GSO province code of its citizens)
AGENCIES = [  # one province's agencies (worker/examples/agencies.json declares the same three)
    ("000.00.17.H19", "UBND xã Lai Vung", 82),
    ("000.00.21.H19", "UBND phường Cao Lãnh", 82),
    ("000.00.01.H19", "Sở Tư pháp tỉnh Đồng Tháp", 82),
]
NOTES = ["", "", "", "Gọi điện trước khi giao", "Giao giờ hành chính"]
DEFECTS = ("missing_phone", "unknown_ward", "bad_dossier_code", "bad_cod_amount")


@lru_cache(maxsize=1)
def wards_by_province() -> dict[int, list[int]]:
    """Current (post-July-2025) ward codes of the simulated provinces, from vietnam_provinces."""
    wanted = {a[2] for a in AGENCIES}
    out: dict[int, list[int]] = {p: [] for p in wanted}
    for ward in Ward.iter_all():
        p = int(ward.province_code)
        if p in out:
            out[p].append(int(ward.code))
    return {p: sorted(codes) for p, codes in out.items()}


@dataclass
class ItemFactory:
    """Builds feed items; dossier sequences count per agency and day like real codes."""

    rng: random.Random
    counter: int = 0
    sequences: dict[str, int] = field(default_factory=dict)

    def _name(self) -> str:
        return f"{self.rng.choice(FAMILY)} {self.rng.choice(MIDDLE)} {self.rng.choice(GIVEN)}"

    def _phone(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"

    def _address(self) -> str:
        n = self.rng.randint(1, 250)
        return self.rng.choice([
            f"Số {n}, ấp {self.rng.choice(HAMLETS)}",
            f"{n} đường {self.rng.choice(STREETS)}",
            f"Tổ {self.rng.randint(1, 30)}, khu phố {self.rng.randint(1, 12)}",
        ])

    def dossier_code(self, agency_code: str, when: datetime) -> str:
        key = f"{agency_code}-{when:%d%m%y}"
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return f"{key}-{self.sequences[key]:04d}"

    def make(self, kind: str = HandoffKind.RESULT_READY, defect: str | None = None,
             now: datetime | None = None) -> dict:
        self.counter += 1
        when = (now or datetime.now(VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
        when -= timedelta(minutes=self.rng.randint(0, 120))
        agency_code, agency_name, province = self.rng.choice(AGENCIES)
        procedure_code, procedure_name = self.rng.choice(PROCEDURES)
        item: dict = {
            "id": f"hof_{self.counter:06d}{self.rng.getrandbits(24):06X}",
            "type": kind,
            "dossierCode": self.dossier_code(agency_code, when),
            "procedure": {"code": procedure_code, "name": procedure_name},
            "agency": {"code": agency_code, "name": agency_name},
            "citizen": {
                "name": self._name(),
                "phone": self._phone(),
                "email": None,
                "address": self._address(),
                "provinceCode": str(province),
                "wardCode": str(self.rng.choice(wards_by_province()[province])),
            },
            "codAmount": self.rng.choice([0, 0, 0, 25000, 50000]),
            "createdAt": when.isoformat(),
            "note": self.rng.choice(NOTES),
        }
        if defect == "missing_phone":
            del item["citizen"]["phone"]
        elif defect == "unknown_ward":
            item["citizen"]["wardCode"] = "99999"
        elif defect == "bad_dossier_code":
            item["dossierCode"] = item["dossierCode"].replace("-", "/")
        elif defect == "bad_cod_amount":
            item["codAmount"] = "abc"
        return item

    def cancellation_of(self, item: dict, now: datetime | None = None) -> dict:
        """A handoff_cancelled item for an earlier item's dossier."""
        self.counter += 1
        when = (now or datetime.now(VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
        return {
            "id": f"hof_{self.counter:06d}{self.rng.getrandbits(24):06X}",
            "type": HandoffKind.HANDOFF_CANCELLED,
            "dossierCode": item["dossierCode"],
            "procedure": item.get("procedure"),
            "agency": item.get("agency"),
            "codAmount": 0,
            "createdAt": when.isoformat(),
            "note": "Công dân rút yêu cầu chuyển phát",
        }
