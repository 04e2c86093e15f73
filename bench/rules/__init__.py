"""Rule engine benchmark: `python -m bench.rules` (see docs/performance.md, section "Rules")."""
