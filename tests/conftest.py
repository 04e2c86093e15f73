"""Shared fixtures. Real services (Mosquitto, influxd, PostgreSQL) are started by `tests/support/*`."""

pytest_plugins = ["tests.support.services", "tests.support.postgres"]
