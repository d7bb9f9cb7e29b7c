"""Ops pages: overview, lists, timelines, CSV, dead letters and replay."""

from __future__ import annotations

routes: list = []
