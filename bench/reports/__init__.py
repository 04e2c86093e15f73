"""`python -m bench.reports`: the monthly report over a year of a street's tickets (target p95 <= 1 s)."""
