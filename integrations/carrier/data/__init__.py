"""Data files of the carrier adapter (area code table and the script that derives it)."""
