"""What operators change by hand: the agencies (add, update, disable, import, re-key)
and dead letters (replay).

Above the flow and the jobs because each change can set hand-offs moving: enabling an
agency takes up its waiting hand-offs, a replay revives dead work.
"""
