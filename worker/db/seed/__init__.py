"""Seed data a fresh database starts from: the placeholder area table (area_codes.csv,
derived by make_area_codes.py) that migration 0009 loads until the post office's own table
is imported with `handoff areas import`."""
