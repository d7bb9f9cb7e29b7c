"""The desk HTTP API (bearer token): request and cancel courier pickups."""

from __future__ import annotations

routes: list = []
