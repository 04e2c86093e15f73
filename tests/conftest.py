"""Shared fixtures: real Mosquitto and influxd (`testkit.services`), PostgreSQL databases (`tests.support.postgres`)."""

pytest_plugins = ["testkit.services", "tests.support.postgres"]
