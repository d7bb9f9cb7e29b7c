"""Who may come in: people, their web sessions, desk API tokens, and the login and
push throttles that count wrong tries.

Independent of every other service package: the doors (web, CLI) use it, nothing in
the hand-off path does.
"""
