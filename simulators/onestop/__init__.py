"""The one-stop simulator: app (HTTP), state (feed, dossiers, faults), data (seeded items)."""
