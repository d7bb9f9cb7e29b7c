"""One-stop HTTP reply classification: which replies are transient, permanent or a 429 (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

from integrations.http_errors import retry_after
from worker.domain.errors import NotFound, PermanentError, TransientError
from worker.domain.privacy import scrub


class RateLimited(TransientError):
    """429 from the one-stop system: wait ``retry_after`` seconds; never retried inline."""


def _detail(body: object) -> str:
    """The other side's message, masked and cut short (it may echo personal data)."""
    text = ""
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                text = body[key]
                break
    elif isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return scrub(" ".join(text.split()))[:200]


def error_for_status(
    status_code: int, headers: Mapping | None, body: object, *, what: str = "yêu cầu"
) -> Exception | None:
    """Classify a reply once: None for 2xx, else a TransientError or PermanentError to raise."""
    if 200 <= status_code < 300:
        return None
    detail = _detail(body)
    suffix = f": {detail}" if detail else ""
    code = str(status_code)
    if status_code == 429:
        return RateLimited(f"hệ thống một cửa yêu cầu chờ (429) khi {what}",
                           retry_after=retry_after(headers))
    if status_code >= 500 or status_code == 408:
        return TransientError(f"hệ thống một cửa tạm thời lỗi ({status_code}) khi {what}",
                              retry_after=retry_after(headers))
    if status_code in (401, 403):
        return PermanentError(
            "hệ thống một cửa từ chối khóa API (sai hoặc hết hạn); đề nghị kiểm tra cấu hình "
            "HANDOFF_ONESTOP_API_KEY",
            code=code,
        )
    if status_code == 404:
        return NotFound(f"hệ thống một cửa không tìm thấy địa chỉ khi {what}", code=code)
    if status_code == 422:
        field = body.get("field") if isinstance(body, Mapping) else None
        return PermanentError(f"hệ thống một cửa từ chối dữ liệu khi {what}{suffix}",
                              field=field if isinstance(field, str) else None, code=code)
    return PermanentError(f"hệ thống một cửa trả lỗi {status_code} khi {what}{suffix}", code=code)


def classify_push_reply(
    status_code: int, headers: Mapping | None, body: object, *, dossier_code: str | None = None
) -> bool | Exception:
    """200 -> the duplicate flag; otherwise the exception to raise (not raised here)."""
    if 200 <= status_code < 300:
        return bool(isinstance(body, Mapping) and body.get("duplicate") is True)
    if status_code == 404:
        label = f" {dossier_code}" if dossier_code else " này"
        return NotFound(
            f"hệ thống một cửa không có hồ sơ{label}; đề nghị kiểm tra mã hồ sơ",
            field="dossierCode",
            code="404",
        )
    error = error_for_status(status_code, headers, body, what="cập nhật trạng thái bưu chính")
    assert error is not None
    return error
