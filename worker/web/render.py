"""Jinja2 templates for the pages, with the helpers every page uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from worker.domain.cod import money
from worker.domain.moments import duration, local
from worker.domain.sla_rules import rule_label
from worker.domain.statuses import status_label
from worker.web.session import csrf_token, current_user

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# Stored dates and durations are shown only through domain/moments: they never raise.
templates.env.globals.update(status_label=status_label, local_time=local, rule_label=rule_label,
                             duration=duration, money=money)


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    ctx = {"user": current_user(request), "csrf": csrf_token(request), **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
