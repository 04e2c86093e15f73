"""`python -m bench.board`: the board's first render in Chromium with 1,000 open tickets (target <= 1 s)."""
