"""Capped exponential backoff with full jitter, for reconnecting to the broker and retrying a database.

Full jitter (a uniform draw below the capped exponential) spreads the retries of many ingesters that lost the
same broker at the same moment, so they do not all come back in lock-step."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, initial: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry): uniform in
    [0, min(cap, initial * 2**attempt)]."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, initial * 2.0 ** min(attempt, 62))
    return (rng or random).uniform(0.0, ceiling)
