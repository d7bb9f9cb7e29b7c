"""The path of a hand-off: taken in (feed, webhook, push), moved through the state
machine, held while its agency is missing or the desk decides, cancelled, marked late.

Uses the ledger (every effect is a row its unit of work rings) and the agencies; the
job handlers, the operators' changes and the read models sit above it.
"""
