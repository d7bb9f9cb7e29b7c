"""`python -m worker.cli ...` runs `handoff ...` (tests and the stack spawn it this way)."""

from worker.cli.main import main

main()
