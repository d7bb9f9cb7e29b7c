"""A long-running process's heap once it has started: left out of the garbage collector's
passes from then on (Python's gc.freeze)."""

from __future__ import annotations

import gc


def freeze_started_heap() -> None:
    """The objects a process made while starting (its modules, the app, the settings: about
    150,000 in the web process) are never freed, yet each full collection walked them all
    again: in a process that serves ops queries, one call in twenty took about 65 ms longer
    (`handoff stuck` on benchmark 6's database: p50 25 ms, p99 94 ms; with the heap frozen
    first, p99 28 ms). In the worker's main process, before the pool forks, it also keeps
    more pages shared with the pool processes: their collections no longer write to them
    (reference counting still copies the pages of the objects a child uses)."""
    gc.collect()
    gc.freeze()
