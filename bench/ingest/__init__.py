"""Ingest benchmark: `python -m bench.ingest` (see docs/performance.md, section "Ingest")."""
