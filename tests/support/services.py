"""Fixtures that start real Mosquitto and influxd processes on free ports (owned by the ingest work)."""
