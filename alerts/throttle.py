"""Slowing down password guessing on `POST /auth/login` (OWASP ASVS V2.2.1; the choice is argued in
docs/security.md).

Failed logins are counted under two keys: the username as the account lookup sees it (`normalise_username`:
`" w1"` and `"w1"` are one account, so they are one counter) and the caller's address. Past a few free failures
each further failure makes that key wait longer before the next attempt is even checked: 1 s, 2 s, 4 s, ... up
to `cap_s`. A delay, not a lock: whoever mistyped, or a passer-by who tried a shared duty-room account, costs
the rightful user a few seconds, while a guesser gets at most one try per `cap_s` per account (60 an hour at
the default cap, under ASVS's 100) and per address. A count is forgotten `forget_after_s` after its last
failure; a successful login clears the username's count (not the address's: a guesser with an account of
their own would otherwise reset it between guesses).

Counts live in the store, so a restart forgets nothing and every process serving the store shares them.
Times are the accounts' wall clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import normalise_username
from alerts.dbguard import translated
from alerts.errors import TooManyAttemptsError
from alerts.tables import login_throttle
from core.clock import Clock, SystemClock
from core.db import begin_write, is_sqlite
from core.i18n import tr


@dataclass(frozen=True, slots=True)
class Backoff:
    """After `free` failures, each failure makes the key wait `base_s * 2**(n - free)`, at most `cap_s`."""

    free: int
    base_s: float = 1.0
    cap_s: float = 60.0
    forget_after_s: float = 900.0

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - self.free, 64))


BY_USER = Backoff(free=5)
BY_ADDRESS = Backoff(free=10)


class LoginThrottle:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock | None = None,
        *,
        by_user: Backoff = BY_USER,
        by_address: Backoff = BY_ADDRESS,
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.by_user = by_user
        self.by_address = by_address

    def _keys(self, username: str, address: str) -> dict[str, Backoff]:
        return {f"user:{normalise_username(username)}"[:200]: self.by_user, f"addr:{address}"[:200]: self.by_address}

    async def check(self, username: str, address: str) -> None:
        """Raise `TooManyAttemptsError` (with `retry_after` seconds) while either key must wait."""
        now = self.clock.now()
        keys = list(self._keys(username, address))
        q = select(login_throttle.c.wait_until).where(login_throttle.c.key.in_(keys))
        async with translated(), self.engine.connect() as conn:
            waits = [w for (w,) in await conn.execute(q)]
        until = max(waits, default=0.0)
        if until > now:
            wait = math.ceil(until - now)
            raise TooManyAttemptsError(tr("errors.too_many_logins", wait=wait), retry_after=wait)

    async def failed(self, username: str, address: str) -> None:
        """Count a failed login under both keys and set how long each must wait."""
        now = self.clock.now()
        insert = sqlite_insert if is_sqlite(self.engine) else postgresql_insert
        t = login_throttle
        async with translated(), begin_write(self.engine) as conn:
            forgotten = now - max(self.by_user.forget_after_s, self.by_address.forget_after_s)
            await conn.execute(delete(t).where(t.c.last_failure_at < forgotten, t.c.wait_until < now))
            for key, backoff in self._keys(username, address).items():
                stale = t.c.last_failure_at < now - backoff.forget_after_s
                stmt = (
                    insert(t)
                    .values(key=key, failures=1, last_failure_at=now, wait_until=now)
                    .on_conflict_do_update(
                        index_elements=[t.c.key],
                        set_={"failures": case((stale, 1), else_=t.c.failures + 1), "last_failure_at": now},
                    )
                    .returning(t.c.failures)
                )
                failures = int((await conn.execute(stmt)).scalar_one())
                await conn.execute(update(t).where(t.c.key == key).values(wait_until=now + backoff.delay(failures)))

    async def succeeded(self, username: str) -> None:
        """The rightful user got in: their username's count starts again."""
        key = next(iter(self._keys(username, "")))
        async with translated(), begin_write(self.engine) as conn:
            await conn.execute(delete(login_throttle).where(login_throttle.c.key == key))
