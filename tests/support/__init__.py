"""Helpers shared by every test tier: waiting for a positive sign, serving an app on loopback."""
