"""What tests and benchmarks share: real Mosquitto and influxd processes on free ports (`services`), a fresh
PostgreSQL database (`postgres`) and the rule for a missing component (`require`: skip locally, fail under CI).
Not shipped in the wheel; imports nothing of ours, so `bench` and `tests` both may use it (tests/test_imports.py)."""
