"""Per-device random generators derived from (seed, name), so adding an incident or a device never reshuffles
the randomness of unrelated devices, and the same seed always gives the same streams."""

from __future__ import annotations

import hashlib

import numpy as np


def key_of(*parts: object) -> int:
    """A stable 64-bit integer for any tuple of strings/ints (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng_for(seed: int, *name: object) -> np.random.Generator:
    """The generator of one named stream (a device, a household, the incident picker)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, key_of(*name)])))
