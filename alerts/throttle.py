"""Slowing down password guessing on `POST /auth/login`."""

from __future__ import annotations

import time
from collections import deque

from alerts.errors import TooManyAttemptsError


class LoginThrottle:
    """At most `limit` failed logins per username in `window` seconds (wall clock): slows password guessing
    without locking the real user out for long."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._fails: dict[str, deque[float]] = {}

    def check(self, username: str) -> None:
        q = self._fails.get(username)
        now = time.monotonic()
        while q and now - q[0] > self.window:
            q.popleft()
        if q and len(q) >= self.limit:
            raise TooManyAttemptsError("too many failed logins; wait a few minutes")

    def failed(self, username: str) -> None:
        self._fails.setdefault(username, deque()).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        self._fails.pop(username, None)
