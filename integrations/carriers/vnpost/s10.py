"""UPU S10 item codes (13 characters, e.g. EB123456785VN): check digit, make, validate."""

from __future__ import annotations

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """UPU S10 check digit of an 8-digit serial: 'RR12345678?VN' -> 5."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError("S10 serial must be 8 digits")
    rest = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(rest, rest)


def make_s10(prefix: str, serial: int, country: str = "VN") -> str:
    digits = f"{serial % 100_000_000:08d}"
    return f"{prefix}{digits}{s10_check_digit(digits)}{country}"


def is_valid_s10(code: str) -> bool:
    return (
        len(code) == 13
        and code[:2].isalpha()
        and code[2:11].isdigit()
        and code[11:].isalpha()
        and s10_check_digit(code[2:10]) == int(code[10])
    )
