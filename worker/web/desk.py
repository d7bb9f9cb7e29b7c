"""The desk page: hand-offs waiting for a courier, call the courier, cancel."""

from __future__ import annotations

routes: list = []
