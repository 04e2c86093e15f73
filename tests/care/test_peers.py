"""Peer inactivity detectors (`bench.care.peers`) on synthetic households: each fires on a long silence after a
learned routine, stays quiet on the routine, and is causal (more data later never changes an earlier alert)."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bench.care.peers import PEERS
from bench.care.peers.__main__ import main, read
from bench.care.peers.activity import activity_times
from bench.care.peers.clock import Floats, LocalClock
from bench.care.peers.moshtaghi import Moshtaghi2015
from bench.care.peers.moshtaghi import _Hours as MoshtaghiHours
from bench.care.peers.wilhelm import scores

TZ = "Europe/Madrid"
HOUR = 3600.0
DAY = 86400.0
START = datetime(2016, 3, 7, 0, 30, tzinfo=ZoneInfo(TZ)).timestamp()  # a Monday, readings at half past


def routine(days: int, silent_from: float = np.inf, silent_until: float = np.inf) -> tuple[Floats, Floats]:
    """Hourly readings of a regular household: water every hour from 07:30 to 22:30 except while out from 09:30
    to 14:30 (the readings of 10:30-13:30 show none), none at night; no use at all in [silent_from, silent_until)."""
    ts = START + HOUR * np.arange(days * 24, dtype=np.float64)
    zone = ZoneInfo(TZ)
    use = np.zeros_like(ts)
    for i, t in enumerate(ts.tolist()):
        hour = datetime.fromtimestamp(t, zone).hour
        if 7 <= hour <= 22 and not 10 <= hour <= 13 and not silent_from <= t < silent_until:
            use[i] = 3.0 + (i * 7) % 11  # 3-13 L
    return ts, 250_000.0 + np.cumsum(use)


@pytest.fixture(params=sorted(PEERS))
def peer_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def local(day: int, month: int, hour: int, minute: int) -> float:
    return datetime(2016, month, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp()


def test_each_peer_fires_on_a_long_silence_after_its_routine(peer_name: str) -> None:
    last_use = local(11, 4, 9, 30)  # a Monday: out as every morning, and not back
    ts, litres = routine(42, last_use + 1.0, local(14, 4, 0, 0))
    alerts = PEERS[peer_name]().alerts(ts, litres, TZ)
    assert [a for a in alerts if last_use < a < local(14, 4, 0, 0)], alerts
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


def test_cuddihy_alert_line_of_a_learned_morning_out() -> None:
    """Every day out from 09:30 to 14:30: at 14:00 the recorded inactivity is 4.5 h, at 14:30 0 (the return is
    read then), at 15:00 0.5 h, ... The line of the 15:00 slot is M + UB + VB = 4.5 + 0.3 * 0.5 + 0.4 * (4.5 + 0
    + 3 * 0.5 + 0 + 0.5) / 9 = 4.94 h, and of 14:30 5.12 h: the first boundary past its line, when the resident
    does not come back, is 15:00 (5.5 h); a learned 5-hour absence itself never alerts."""
    last_use = local(11, 4, 9, 30)
    ts, litres = routine(42, last_use + 1.0, local(14, 4, 0, 0))
    assert PEERS["cuddihy-2007"]().alerts(ts, litres, TZ) == [local(11, 4, 15, 0)]


def test_wilhelm_inactivity_score_after_uncertain_events() -> None:
    """A trusted event resets the score; one of certainty 0.86 cuts it to 14 % once the sensor has been quiet
    for the release time 6 h * (1 - 0.86) = 50.4 min, and proportionally less before."""
    events = np.array([10.0, 20.0, 3620.0, 5132.0]) * 1.0
    before, after = scores(events, 0.0, 1.0, 6 * HOUR)
    assert before.tolist() == [10.0, 10.0, 3600.0, 1512.0]
    assert after.tolist() == [0.0, 0.0, 0.0, 0.0]
    before, after = scores(events, 0.0, 0.86, 6 * HOUR)
    assert after[0] == pytest.approx(10.0 * 0.14)  # the first event of a sensor has full weight
    w = 10.0 / (0.14 * 6 * HOUR)
    assert after[1] == pytest.approx((after[0] + 10.0) * (1 - 0.86 * w))
    assert after[2] == pytest.approx((after[1] + 3600.0) * 0.14)
    assert after[3] == pytest.approx((after[2] + 1512.0) * (1 - 0.86 * 1512.0 / 3024.0))


def test_moshtaghi_period_over_midnight_reaches_the_hours_on_both_sides() -> None:
    clock = LocalClock(TZ, START, START + 3 * DAY)
    model = Moshtaghi2015().model(clock)
    assert isinstance(model, MoshtaghiHours)
    model.learn(local(8, 3, 22, 40), local(9, 3, 2, 10))
    assert [len(p) for p in model.periods] == [1, 1, 1] + [0] * 19 + [1, 1]
    model.learn(local(9, 3, 7, 0), local(11, 3, 7, 0))  # two days: every hour once more
    assert [len(p) for p in model.periods] == [2, 2, 2] + [1] * 19 + [2, 2]


def test_local_clock_across_the_spring_change() -> None:
    clock = LocalClock(TZ, local(26, 3, 0, 0), local(28, 3, 0, 0))
    before = local(27, 3, 1, 45)  # CET; at 02:00 the clocks go to 03:00 CEST
    assert clock.offset(before) == HOUR
    assert clock.next_boundary(before, HOUR / 2) == before + 15 * 60
    assert clock.second_of_day(before + 15 * 60) == 3 * HOUR
    assert clock.next_boundary(before + 15 * 60, HOUR) == local(27, 3, 4, 0)


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


def test_quick_check_reads_the_repeated_autumn_hour(tmp_path: Path) -> None:
    rows = ["user key;datetime;meter reading;diff"]
    for stamp, value in [("01:56:14", 10), ("02:56:14", 12), ("02:56:28", 15), ("02:56:28", 15), ("03:56:28", 15)]:
        rows.append(f"h1;30/10/2016 {stamp};{value};0")
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    ts, litres = read(path, TZ)["h1"]
    assert np.diff(ts).tolist() == [3600.0, 3614.0, 3600.0]  # CEST, CEST, CET, CET; the duplicate dropped
    assert litres.tolist() == [10.0, 12.0, 15.0, 15.0]


def test_quick_check_runs_every_peer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ts, litres = routine(40, local(6, 4, 9, 31), local(9, 4, 0, 0))
    zone = ZoneInfo(TZ)
    rows = ["user key;datetime;meter reading;diff"]
    rows += [f"h1;{datetime.fromtimestamp(t, zone):%d/%m/%Y %H:%M:%S};{v:g};0" for t, v in zip(ts, litres, strict=True)]
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    assert main(["--data", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 households with readings on 30 days or more" in out
    assert all(f"\n{name} " in out for name in PEERS)
    assert main(["--data", str(tmp_path / "absent.csv.gz")]) == 0
    assert "absent" in capsys.readouterr().out
