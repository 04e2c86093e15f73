"""Care benchmark on real household water meters: `python -m bench.care` (see docs/rules-scoring.md)."""
