"""The processes themselves: the Celery app they run, their liveness, their log lines,
and the stack and demo that start them all.

Below the composition root (bootstrap rings through the Celery app) and above the
service; the stack starts the doors as subprocesses, so it imports none of them.
"""
