"""Published inactivity detectors ("peers") run on the same water data and incidents as cwatch's care rules.

    from bench.care.peers import PEERS
    for name, make in PEERS.items():
        alerts = make().alerts(ts, litres, "Europe/Madrid")   # epoch seconds of each alert

Each peer takes one household's whole series (epoch seconds in time order, the cumulative register in litres,
the IANA zone of local time) and returns its alert times. Every peer is causal (an alert at t uses only readings
up to t), learns from the household's own history as its paper does, and raises at most one alert per
inactivity (it re-arms at the next water use). What counts as water use, and each detector with its parameters
and sources: `bench/care/peers/README.md`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bench.care.peers.cuddihy import Cuddihy2007
from bench.care.peers.fixed import FixedWindow
from bench.care.peers.floeck import FloeckLitz2009
from bench.care.peers.moshtaghi import Moshtaghi2015
from bench.care.peers.wilhelm import WilhelmWahl2024


class Peer(Protocol):
    name: str

    def alerts(self, ts: npt.NDArray[np.float64], litres: npt.NDArray[np.float64], tz: str) -> list[float]:
        """Alert times (epoch s, increasing) for one household's readings."""
        ...


PEERS: dict[str, Callable[[], Peer]] = {
    "fixed-24h": FixedWindow,
    "cuddihy-2007": Cuddihy2007,
    "floeck-litz-2009": FloeckLitz2009,
    "moshtaghi-2015": Moshtaghi2015,
    "wilhelm-wahl-2024": WilhelmWahl2024,
}
