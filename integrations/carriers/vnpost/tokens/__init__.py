"""Access tokens: one per account and expiry window for the whole machine (`cache.py`),
kept in files only the service user can read (`files.py`)."""
