"""Peer inactivity detectors (`bench.care.peers`) on synthetic households: each fires on a long silence after a
learned routine, stays quiet on the routine, and is causal (more data later never changes an earlier alert)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bench.care.peers import PEERS
from bench.care.peers.activity import activity_times
from bench.care.peers.clock import Floats

TZ = "Europe/Madrid"
HOUR = 3600.0
DAY = 86400.0
START = datetime(2016, 3, 7, 0, 30, tzinfo=ZoneInfo(TZ)).timestamp()  # a Monday, readings at half past


def routine(days: int, silent_from: float = np.inf, silent_until: float = np.inf) -> tuple[Floats, Floats]:
    """Hourly readings of a regular household: water every hour from 07:30 to 22:30 on weekdays, from 09:30 at
    weekends, none at night; no use at all in [silent_from, silent_until)."""
    ts = START + HOUR * np.arange(days * 24, dtype=np.float64)
    zone = ZoneInfo(TZ)
    use = np.zeros_like(ts)
    for i, t in enumerate(ts.tolist()):
        local = datetime.fromtimestamp(t, zone)
        first = 9 if local.weekday() >= 5 else 7
        if first <= local.hour <= 22 and not silent_from <= t < silent_until:
            use[i] = 3.0 + (i * 7) % 11  # 3-13 L
    return ts, 250_000.0 + np.cumsum(use)


@pytest.fixture(params=sorted(PEERS))
def peer_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_each_peer_fires_on_a_long_silence_after_its_routine(peer_name: str) -> None:
    silent_from = START + 35 * DAY + 10 * HOUR  # a Friday, 10:30: the last use is the 09:30 reading
    ts, litres = routine(42, silent_from, START + 38 * DAY)
    alerts = PEERS[peer_name]().alerts(ts, litres, TZ)
    last_use = silent_from - HOUR
    assert [a for a in alerts if last_use < a < START + 38 * DAY], alerts
    assert all(a > last_use for a in alerts), "no alert during the routine"


def test_no_peer_fires_on_its_routine(peer_name: str) -> None:
    ts, litres = routine(42)
    assert PEERS[peer_name]().alerts(ts, litres, TZ) == []


def test_peers_are_causal(peer_name: str) -> None:
    """Alerts up to a cut are the same whether or not the data after the cut is given."""
    ts, litres = routine(60, START + 20 * DAY + 12 * HOUR, START + 23 * DAY)
    full = PEERS[peer_name]().alerts(ts, litres, TZ)
    for cut in (START + 21 * DAY + 5 * HOUR, START + 30 * DAY, START + 45 * DAY + 0.5 * HOUR):
        keep = ts <= cut
        part = PEERS[peer_name]().alerts(ts[keep], litres[keep], TZ)
        assert part == [a for a in full if a <= ts[keep][-1]], cut


def test_one_alert_per_silence(peer_name: str) -> None:
    ts, litres = routine(50, START + 30 * DAY + 10 * HOUR, START + 40 * DAY)
    alerts = PEERS[peer_name]().alerts(ts, litres, TZ)
    assert len([a for a in alerts if START + 30 * DAY < a < START + 40 * DAY]) == 1, alerts


def test_activity_ignores_step_backs_and_small_rises() -> None:
    ts = np.arange(8, dtype=np.float64) * HOUR
    litres = np.array([100.0, 101.0, 98.0, 101.0, 102.0, 104.0, 104.0, 110.0])
    # +1 (noise), -3 (step back), +3 back to the top (no use), +1, +2 (use), 0, +6 (use)
    assert activity_times(ts, litres).tolist() == [5 * HOUR, 7 * HOUR]


def test_activity_follows_two_interleaved_series() -> None:
    ts = np.arange(8, dtype=np.float64) * HOUR
    litres = np.array([456_017.0, 207_814.0, 456_273.0, 207_851.0, 456_273.0, 207_851.0, 207_886.0, 207_886.0])
    # the second meter starts a series of its own; each rise counts on its series, never the jump between them
    assert activity_times(ts, litres).tolist() == [2 * HOUR, 3 * HOUR, 6 * HOUR]


def test_bad_input_is_refused() -> None:
    peer = PEERS["fixed-24h"]()
    with pytest.raises(ValueError, match="time order"):
        peer.alerts(np.array([2.0, 1.0]), np.array([0.0, 0.0]), TZ)
    with pytest.raises(ValueError, match="one length"):
        peer.alerts(np.array([1.0, 2.0]), np.array([0.0]), TZ)
    assert peer.alerts(np.array([], dtype=np.float64), np.array([], dtype=np.float64), TZ) == []
