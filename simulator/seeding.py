"""Per-device random generators derived from (seed, name), so adding an incident or a device never reshuffles
the randomness of unrelated devices, and the same seed always gives the same streams."""

from __future__ import annotations

import hashlib
import math
import random

import numpy as np


def key_of(*parts: object) -> int:
    """A stable 64-bit integer for any tuple of strings/ints (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng_for(seed: int, *name: object) -> np.random.Generator:
    """The generator of one named stream (a device, a household, the incident picker)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, key_of(*name)])))


class Rand:
    """A fast scalar generator (Python's Mersenne Twister) with the numpy-style methods the models use.
    Scalar draws from numpy cost about a microsecond each; these cost a tenth of that."""

    __slots__ = ("_r",)

    def __init__(self, seed: int, *name: object) -> None:
        self._r = random.Random(key_of(seed, *name))

    def random(self) -> float:
        return self._r.random()

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self._r.random()

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return self._r.gauss(mu, sigma)

    def lognormal(self, mu: float, sigma: float) -> float:
        return self._r.lognormvariate(mu, sigma)

    def integers(self, lo: int, hi: int | None = None) -> int:
        """Like numpy: integers(n) is in [0, n), integers(lo, hi) in [lo, hi)."""
        if hi is None:
            lo, hi = 0, lo
        return self._r.randrange(lo, hi)

    def poisson(self, lam: float) -> int:
        """Knuth's method for small means, a rounded normal beyond 30."""
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(self._r.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, self._r.random()
        while p > limit:
            k += 1
            p *= self._r.random()
        return k

    def pick(self, weights: list[float]) -> int:
        """An index drawn with the given (unnormalised) weights."""
        return self._r.choices(range(len(weights)), weights=weights)[0]
