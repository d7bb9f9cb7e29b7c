"""Tests of the chaos suite: its servers and proxy, and the short scenarios."""
