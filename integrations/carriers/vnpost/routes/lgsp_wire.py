"""Route B's wire: the province's LGSP door (contract, "Route B"). The order body, the
codes and the feed are route A's (../wire.py); only the door differs, and it is here so
that a province whose LGSP differs changes this file and its settings."""

from __future__ import annotations

TOKEN_HEADER = "access_token"  # the token rides in this header, not in Authorization
SERVICE_PARAM = "service"  # the gateway routes each call by this query parameter
# The service names a province gives its post-office calls (settings lgsp_service_*)
POST_SERVICE = "vnpost.order.post"
TRACKING_SERVICE = "vnpost.order.tracking"
CANCEL_SERVICE = "vnpost.order.cancel"


def auth_headers(token: str) -> dict[str, str]:
    return {TOKEN_HEADER: token}


def service_params(service: str, params: dict[str, str] | None = None) -> dict[str, str]:
    """The query of one call: the service name first, then the call's own parameters."""
    return {SERVICE_PARAM: service, **(params or {})}
