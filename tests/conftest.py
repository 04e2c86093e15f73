"""Shared fixtures: real Mosquitto and influxd (`testkit.services`), PostgreSQL databases (`testkit.postgres`)."""

pytest_plugins = ["testkit.services", "testkit.postgres"]
