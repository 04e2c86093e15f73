"""Fixtures for a real PostgreSQL database (owned by the wiring work)."""
