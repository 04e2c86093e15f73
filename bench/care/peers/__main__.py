"""Quick check of the peers on the real household data: `python -m bench.care.peers [--data PATH]`.

Runs every peer over each household of the shared data with readings on 30 days or more (no injected incidents;
a household-month is 1/12 year of the span from its first to its last reading) and prints,
per peer, alerts per household-month; false ones among them (an activity again within 24 h of the last activity
before the alert, on the peers' own activity definition); the median and 90th percentile over households; the
median delay from the last activity to the alert; and the CPU time. The care benchmark (`bench/care`) is the
measurement; this is a sanity check of the detectors alone.

The CSV (`;`-separated `user key;datetime;meter reading;diff`, local wall-clock time of the DAIAD trial in
Alicante, hence Europe/Madrid) is found as `shared/data/daiad-swm-trial-a-part1.csv.gz` beside the project or one
of its parent folders. A time in the repeated autumn hour is taken as the instant after the household's previous
row that is nearer one hour after it; a row not after its household's previous one is dropped.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from bench.care.peers import PEERS
from bench.care.peers.activity import activity_times
from bench.care.peers.base import TRAIN_DAYS
from bench.care.peers.clock import DAY, HOUR, Floats

TZ = "Europe/Madrid"
FILE = "daiad-swm-trial-a-part1.csv.gz"
MONTH = 365.25 / 12 * DAY


def find(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit if explicit.is_file() else None
    for base in Path(__file__).resolve().parents[3:]:
        p = base / "shared" / "data" / FILE
        if p.is_file():
            return p
    return None


def read(path: Path, tz: str) -> dict[str, tuple[Floats, Floats]]:
    zone = ZoneInfo(tz)
    times: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter=";")
        next(rows, None)
        for row in rows:
            local = datetime.strptime(row[1].strip(), "%d/%m/%Y %H:%M:%S")
            ts = times.setdefault(row[0], [])
            prev = ts[-1] if ts else None
            t = local.replace(tzinfo=zone, fold=0).timestamp()
            later = [x for x in (t, local.replace(tzinfo=zone, fold=1).timestamp()) if prev is None or x > prev]
            if not later:
                continue
            ts.append(min(later, key=lambda x: abs(x - (prev or x) - HOUR)))
            values.setdefault(row[0], []).append(float(row[2]))
    return {k: (np.asarray(times[k]), np.asarray(values[k])) for k in times}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.care.peers", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help=f"the CSV ({FILE})")
    args = ap.parse_args(argv)
    path = find(args.data)
    if path is None:
        print(f"the real household data is absent ({FILE} of ../shared/data, see its README): nothing was run")
        return 0
    households = {k: v for k, v in read(path, TZ).items() if np.unique(v[0] // DAY).size >= 30}
    months = sum(float(ts[-1] - ts[0]) / MONTH for ts, _ in households.values())
    trained = sum(max(0.0, float(ts[-1] - ts[0]) - TRAIN_DAYS * DAY) / MONTH for ts, _ in households.values())
    print(f"{path.name}: {len(households)} households with readings on 30 days or more, {months:.0f} household-months")
    print(f"({trained:.0f} after the learned peers' {TRAIN_DAYS:g}-day training); per household-month:")
    print(
        f"{'peer':18} {'alerts':>7} {'trained':>8} {'false':>6} {'hh med':>7} {'hh p90':>7} {'delay h':>8} {'cpu s':>6}"
    )
    for name, make in PEERS.items():
        peer = make()
        t0 = time.process_time()
        found = {k: peer.alerts(ts, litres, TZ) for k, (ts, litres) in households.items()}
        cpu = time.process_time() - t0
        false, delays, rates = 0, [], []
        for k, alerts in found.items():
            ts, litres = households[k]
            ev = activity_times(ts, litres)
            rates.append(len(alerts) / (float(ts[-1] - ts[0]) / MONTH))
            for a in alerts:
                i = int(np.searchsorted(ev, a, side="left"))
                nxt = float(ev[i]) if i < ev.size else np.inf
                delays.append((a - float(ev[i - 1])) / HOUR)
                false += nxt - float(ev[i - 1]) <= DAY
        n = sum(len(a) for a in found.values())
        delay = f"{np.median(delays):8.1f}" if delays else f"{'-':>8}"
        print(
            f"{name:18} {n / months:7.2f} {n / trained:8.2f} {false / months:6.2f} {np.median(rates):7.2f}"
            f" {np.percentile(rates, 90):7.2f} {delay} {cpu:6.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
