"""The VNPost N-GSP simulator: app (HTTP), store (in-memory world), rules (clock, faults)."""
