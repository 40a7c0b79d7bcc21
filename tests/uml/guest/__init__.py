"""Tests that run inside the user-mode Linux guest (see conftest.py)."""
