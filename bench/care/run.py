"""Care benchmark on real household water meters: what the lone-elderly rules would raise, and how fast they
report a resident who fell, beside the published inactivity detectors on the same data.

    python -m bench.care [--data PATH] [--settings NAME ...] [--rounds 5] [--jobs 1] [--quick] [--service]

The data is the DAIAD trial's hourly meter readings (`../shared/data/`, see its README; it stays out of the
repository). Every household with at least 30 days of hourly readings is taken to be a lone elderly resident
who consented, with quiet hours 22:00-06:00 and one meter reporting hourly (`bench.care.replay`), in the
trial site's zone (`Europe/Madrid`, `bench.care.data`). For each setting of the rules:

1. **Quiet**: the whole year replayed through the ingester's decoder and the rule engine; per household-month,
   the tickets each rule opened, the no-water tickets, those of them that were false (water surely used again
   within 24 h of the last use before the alert: `bench.care.truth`), the absences that raised more than one
   no-water ticket, and the offline tickets (`device_offline`, and `gateway_offline` for many meters silent
   together). Tickets are counted as the alerts service files them
   (`score.tickets`): the rules of a `group` (`elderly_absence`) raise one ticket per absence between them.
2. **Fast**: `--rounds` replays in which every household has one injected incident: at a random moment of the
   day or evening (07:00-23:00, fixed seed) at which its resident had used water within the last 3 h, all
   later water use is cut (the register stays flat, the meter keeps reporting). Detected: a no-water alert
   went out within 7 days; delay: from the reading that showed the last use to the alert.

With `--service`, a subset (`--service-households`, `--service-days`) is replayed through the service's rule
runner and ticket store on SQLite instead (`bench.care.service`), beside the engine alone, and the two tables
are printed with whether their tickets are the same.

The peers (`bench.care.peers`, when present) and the naive fixed rule get the same series, the same cuts and
the same scoring.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from tqdm import tqdm

from bench.care import replay as rp
from bench.care import score as sc
from bench.care import service as sv
from bench.care import truth
from bench.care.data import DataMissingError, Dataset, Household, find_data, load
from bench.care.naive import NaiveFixed
from rules.alert import Alert, AlertAction
from rules.config import default_ruleset_path, parse_ruleset

MIN_READINGS = 30 * 24
"""Households with fewer hourly readings (30 days' worth) are left out."""
SEED = 20160301
NO_WATER = frozenset({"elderly_no_water", "elderly_unusual_inactivity"})
_CHANGES = (AlertAction.RAISE, AlertAction.CLEAR)


class Peer(Protocol):
    name: str

    def alerts(self, ts: Any, litres: Any, tz: str) -> list[float]: ...


@dataclass(frozen=True)
class Setting:
    """A variant of the shipped rules: per rule id, the parameters that differ."""

    name: str
    overrides: Mapping[str, Mapping[str, Any]]


SHIPPED = Setting("shipped rules", {})


_PLAIN: dict[str, Any] = {"min_use_m3": 0.01, "min_burst_m3": None, "before_quiet": None, "quiet_until": None}
"""The absence rule's parameters a setting has unless it names them: < 10 L in the window, quiet hours kept."""


def _fixed(window: str) -> Setting:
    """The absence rule alone: `window` without water, no learned routine."""
    return Setting(
        f"fixed {window}, no routine",
        {
            "elderly_no_water": {"window": window, **_PLAIN, "routine": None, "max_window": None},
            "elderly_unusual_inactivity": {"enabled": False},
        },
    )


def _guard(window: str, max_window: str, **extra: Any) -> Setting:
    """The absence rule after `window`, held back by the learned routine (which raises nothing itself) at most
    to `max_window`; `extra`: more parameters of the absence rule, or `learn_max` of the routine."""
    routine: dict[str, Any] = {"raises": False, "learn_max": extra.pop("learn_max", "24h")}
    label = "".join(f", {k} {v}" for k, v in extra.items())
    return Setting(
        f"routine {window}-{max_window}{label}, learn_max {routine['learn_max']}",
        {
            "elderly_no_water": {**_PLAIN, "window": window, "max_window": max_window, **extra},
            "elderly_unusual_inactivity": routine,
        },
    )


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        SHIPPED,
        _fixed("12h"),
        _fixed("16h"),
        _guard("10h", "18h"),
        _guard("12h", "20h"),
        _guard("12h", "24h"),
        _guard("13h", "20h"),
        _guard("12h", "20h", learn_max="16h"),
        _guard("12h", "20h", quiet_until="morning"),
        _guard("12h", "18h", min_use_m3=0.001),
        _guard("12h", "18h", min_use_m3=0.001, before_quiet="10h"),
        _guard("12h", "20h", min_use_m3=0.001, before_quiet="10h"),
        _guard("12h", "18h", min_use_m3=0.001, before_quiet="8h"),
        _guard("12h", "18h", min_burst_m3=0.002, before_quiet="10h"),
    )
}
"""The settings the trade-off is printed for: the shipped rules, and variants of their parameters."""


def ruleset_text(setting: Setting) -> str:
    data = yaml.safe_load(default_ruleset_path().read_text(encoding="utf-8"))
    rules = {r["id"]: r for r in data["rules"]}
    for rid, params in setting.overrides.items():
        if rid not in rules:
            raise KeyError(f"setting {setting.name!r}: no rule {rid!r} in the shipped rules")
        for k, v in params.items():
            if v is None:
                rules[rid].pop(k, None)
            else:
                rules[rid][k] = copy.deepcopy(v)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@dataclass
class Scored:
    name: str
    quiet: sc.Quiet
    fast: sc.Fast
    wall_s: float
    halves: dict[str, tuple[sc.Quiet, sc.Fast]]


class Bench:
    def __init__(
        self, ds: Dataset, rounds: int, seed: int = SEED, sweep_s: float = 300.0, min_readings: int = MIN_READINGS
    ) -> None:
        self.tz = ds.tz
        self.households = {k: h for k, h in ds.households.items() if len(h.ts) >= min_readings}
        self.left_out = sorted(set(ds.households) - set(self.households))
        self.uses = {k: truth.uses(h) for k, h in self.households.items()}
        self.by_hid = {rp.household_id(k): k for k in self.households}
        self.registry = rp.street(self.households)
        self.sweep_s = sweep_s
        rng = np.random.default_rng(seed)
        self.rounds: list[dict[str, truth.Incident]] = [
            truth.pick_incidents(self.households, self.uses, rng, self.tz) for _ in range(rounds)
        ]
        self.span = sc.Span({k: (float(h.ts[0]), float(h.ts[-1])) for k, h in self.households.items()})
        #: called after each replay of the year (one quiet, one per incident round): the progress bar's step
        self.replayed: Callable[[], None] = lambda: None

    def cut_series(self, incidents: Mapping[str, truth.Incident]) -> dict[str, Household]:
        """Every household's series with its incident of the round, ending at the incident's horizon (what comes
        later cannot change whether and when it was reported)."""
        return {
            k: truth.cut(h, self.uses[k], incidents[k], incidents[k].cut + sc.HORIZON_S) if k in incidents else h
            for k, h in self.households.items()
        }

    # --- detectors ----------------------------------------------------------------------------------------

    def engine(self, setting: Setting) -> tuple[list[sc.Raised], list[list[sc.Raised]]]:
        rules = parse_ruleset(ruleset_text(setting), self.registry)

        def run(series: Mapping[str, Household]) -> list[sc.Raised]:
            readings, refused = rp.decode(self.registry, series.values())
            if refused:
                raise RuntimeError(f"the decoder refused {refused} readings")
            rep = rp.replay(rules, self.registry, readings, self.tz, self.sweep_s)
            if rep.failures:
                raise RuntimeError(f"rules failed {rep.failures} times (see the log)")
            return sc.tickets(
                sc.Change(
                    self._household_of(e.alert),
                    e.alert.rule_id,
                    e.alert.dedup_key,
                    e.alert.group,
                    e.alert.action is AlertAction.RAISE,
                    e.alert.ts,
                    e.at,
                    e.alert.reopen_within,
                )
                for e in rep.alerts
                if e.alert.action in _CHANGES and e.alert.details.get("signal") != "all_well"
            )

        return self._each(run, lambda incs: self.cut_series(incs))

    def _each(
        self,
        run: Callable[[Mapping[str, Household]], list[sc.Raised]],
        cut: Callable[[dict[str, truth.Incident]], Mapping[str, Household]],
    ) -> tuple[list[sc.Raised], list[list[sc.Raised]]]:
        """`run` on the quiet year, then on each round's cut series, reporting each replay done."""
        clean = run(self.households)
        self.replayed()
        rounds = []
        for incs in self.rounds:
            rounds.append(run(cut(incs)))
            self.replayed()
        return clean, rounds

    def _household_of(self, alert: Alert) -> str:
        """The household key an alert counts for; a shared-cause (outage) alert counts for the household of
        the first of its silent devices."""
        return self._key(alert.household_id, alert.details)

    def _key(self, hid: str | None, details: Mapping[str, Any]) -> str:
        if hid is None:
            devices = details.get("silent_devices") or [""]
            d = self.registry.devices.get(devices[0])
            hid = d.household_id if d is not None else None
        return self.by_hid.get(hid or "", "")

    def service(self, setting: Setting) -> tuple[list[sc.Raised], list[list[sc.Raised]]]:
        """`engine`, through the service's runner and ticket store (`bench.care.service`)."""
        rules = parse_ruleset(ruleset_text(setting), self.registry)

        def run(series: Mapping[str, Household]) -> list[sc.Raised]:
            return sv.replay(rules, series, self.tz, self.sweep_s, self._key)

        return run(self.households), [run(self.cut_series(incs)) for incs in self.rounds]

    def peer(self, p: Peer) -> tuple[list[sc.Raised], list[list[sc.Raised]]]:
        def run(series: Mapping[str, Household]) -> list[sc.Raised]:
            out: list[sc.Raised] = []
            for k, h in series.items():
                out.extend(sc.Raised(k, "peer", t, t) for t in p.alerts(h.ts, h.litres, self.tz))
            return out

        return self._each(
            run,
            lambda incs: {
                k: truth.cut(self.households[k], self.uses[k], i, i.cut + sc.HORIZON_S) for k, i in incs.items()
            },
        )

    # --- scoring ------------------------------------------------------------------------------------------

    def score(
        self, name: str, clean: list[sc.Raised], cut: list[list[sc.Raised]], no_water: frozenset[str], wall_s: float
    ) -> Scored:

        def fast(keep: Callable[[truth.Incident], bool]) -> sc.Fast:
            out = sc.Fast(0, 0, [], 0)
            for rnd, raised in zip(self.rounds, cut, strict=True):
                f = sc.fast(raised, [i for i in rnd.values() if keep(i)], no_water, self.tz)
                out = sc.Fast(
                    out.incidents + f.incidents,
                    out.detected + f.detected,
                    out.delays + f.delays,
                    out.in_quiet + f.in_quiet,
                )
            return out

        first, second = frozenset(sorted(self.households)[::2]), frozenset(sorted(self.households)[1::2])
        split = float(np.median([(lo + hi) / 2 for lo, hi in self.span.ranges.values()]))
        ranges = self.span.ranges
        halves: dict[str, tuple[sc.Span, Callable[[truth.Incident], bool]]] = {
            "households, first half": (sc.Span({k: ranges[k] for k in first}), lambda i: i.key in first),
            "households, second half": (sc.Span({k: ranges[k] for k in second}), lambda i: i.key in second),
            "year, first half": (
                sc.Span({k: (lo, min(hi, split)) for k, (lo, hi) in ranges.items() if lo < split}),
                lambda i: i.cut < split,
            ),
            "year, second half": (
                sc.Span({k: (max(lo, split), hi) for k, (lo, hi) in ranges.items() if hi > split}),
                lambda i: i.cut >= split,
            ),
        }
        return Scored(
            name,
            sc.quiet(clean, self.uses, self.span, no_water),
            fast(lambda i: True),
            wall_s,
            {h: (sc.quiet(clean, self.uses, span, no_water), fast(keep)) for h, (span, keep) in halves.items()},
        )


def load_peers() -> dict[str, Callable[[], Peer]]:
    try:  # the published detectors, written beside this benchmark
        peers = importlib.import_module("bench.care.peers")
    except ImportError:
        return {}
    return dict(getattr(peers, "PEERS", {}))


# --- report -------------------------------------------------------------------------------------------------


def _f(x: float, nd: int = 2) -> str:
    return "–" if x != x else f"{x:.{nd}f}"


def table(rows: Iterable[Scored]) -> list[str]:
    out = [
        "| detector | no-water alerts | false | absences with 2+ tickets | offline | incidents detected | "
        "delay median (h) | delay p95 (h) | reported in quiet hours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in rows:
        q, f = s.quiet, s.fast
        out.append(
            f"| {s.name} | {_f(q.no_water)} | {_f(q.false)} | {_f(q.multi)} | {_f(q.offline)} | "
            f"{f.detected}/{f.incidents} ({f.rate:.0%}) | {_f(f.pct(50), 1)} | {_f(f.pct(95), 1)} | {f.in_quiet} |"
        )
    return out


def report(bench: Bench, ds: Dataset, path: Path, results: list[Scored], peers: list[Scored]) -> str:
    lines = [
        f"Data: {path.name}: {ds.rows} rows, {len(ds.households)} households, zone {ds.tz}; "
        f"{ds.dropped} rows at or before their household's previous one dropped.",
        f"Scored: {len(bench.households)} households with at least {MIN_READINGS // 24} days of hourly readings "
        f"({bench.span.months:.1f} household-months); left out: {len(bench.left_out)}. "
        f"Incidents: {sum(len(r) for r in bench.rounds)} in {len(bench.rounds)} rounds (seed {SEED}).",
        "",
        "Tickets per household-month (no-water: opened by `elderly_no_water` or `elderly_unusual_inactivity`, "
        "which share one ticket per absence; false: water surely "
        "used again within 24 h of the last use before the alert).",
        "",
        *table([*results, *peers]),
    ]
    for s in results:
        rules = ", ".join(f"`{k}` {_f(v)}" for k, v in s.quiet.per_rule.items())
        lines += ["", f"{s.name}: tickets per opening rule per household-month: {rules} ({s.wall_s:.0f} s)."]
    if len(results) > 1:
        lines += ["", "Trade-off (settings by false no-water alerts per household-month):", ""]
        lines += [
            "| setting | false | all no-water | delay median (h) | delay p95 (h) | detected |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in sorted(results, key=lambda x: x.quiet.false):
            lines.append(
                f"| {s.name} | {_f(s.quiet.false)} | {_f(s.quiet.no_water)} | {_f(s.fast.pct(50), 1)} | "
                f"{_f(s.fast.pct(95), 1)} | {s.fast.rate:.0%} |"
            )
    if results:
        lines += ["", f"Stability of {results[0].name} (same runs, scored on halves):", ""]
        lines += table(Scored(h, q, f, 0.0, {}) for h, (q, f) in results[0].halves.items())
    return "\n".join(lines)


def count(text: str) -> int:
    """A count of incident rounds: 0 would score no incident at all and print empty delays."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.care", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="the CSV (default: shared/data beside the project)")
    p.add_argument("--settings", nargs="*", help=f"settings to run (default all): {', '.join(SETTINGS)}")
    p.add_argument("--rounds", type=count, default=5, help="incident rounds (one incident per household each; 5: 225)")
    p.add_argument("--sweep", type=float, default=300.0, help="seconds of event time between engine sweeps")
    p.add_argument("--jobs", type=int, default=1, help="settings run in parallel processes")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--quick", action="store_true", help="one round, the shipped rules unless --settings names others")
    p.add_argument("--json", type=Path, help="also write the figures as JSON")
    p.add_argument(
        "--service",
        action="store_true",
        help="instead: a subset replayed through the service's rule runner and ticket store, beside the engine",
    )
    p.add_argument("--service-households", type=int, default=4, help="--service: this many households")
    p.add_argument("--service-days", type=float, default=30.0, help="--service: their first this many days")
    a = p.parse_args(argv)
    try:
        path = find_data(a.data)
    except DataMissingError as e:
        print(f"bench.care: {e}")
        return 0
    ds = load(path)
    if a.service:
        print(service_check(ds, path, a.settings or [SHIPPED.name], a.service_households, a.service_days, a.sweep))
        return 0
    names = a.settings or list(SETTINGS)
    if a.quick:  # one round; the shipped rules unless settings are named
        names, a.rounds = (a.settings or [SHIPPED.name]), 1
    bench = Bench(ds, a.rounds, sweep_s=a.sweep)
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        p.error(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    makers: dict[str, Callable[[], Peer]] = {"naive": NaiveFixed}
    if not a.no_peers:
        makers.update(load_peers())
    per = 1 + len(bench.rounds)  # replays of the year per setting or peer
    # on a terminal: a bar over the replays with the time left; elsewhere the per-setting lines and the table
    bar = tqdm(total=(len(names) + len(makers)) * per, unit=" replays", disable=not sys.stderr.isatty())
    bench.replayed = lambda: bar.update(1)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as pool:
            futures = [pool.submit(_run_setting, (path, a.rounds, a.sweep, n)) for n in names]
            for done in as_completed(futures):
                done.result()
                bar.update(per)
            results = [f.result() for f in futures]
    else:
        results = [_setting(bench, n) for n in names]
    peers: list[Scored] = []
    for make in makers.values():
        peer = make()
        t = time.perf_counter()
        clean, cut = bench.peer(peer)
        peers.append(bench.score(peer.name, clean, cut, frozenset({"peer"}), time.perf_counter() - t))
    bar.close()
    print(report(bench, ds, path, results, peers))
    if a.json:
        a.json.write_text(json.dumps([_as_json(s) for s in [*results, *peers]], indent=1), encoding="utf-8")
    return 0


def subset(ds: Dataset, households: int, days: float, min_readings: int = MIN_READINGS) -> Dataset:
    """The first `households` (by key) of those scored, each cut to its first `days` days."""
    keys = sorted(k for k, h in ds.households.items() if len(h.ts) >= min_readings)[:households]
    out = {}
    for k in keys:
        h = ds.households[k]
        keep = h.ts < h.ts[0] + days * 86_400.0
        out[k] = Household(k, h.ts[keep], h.litres[keep])
    return Dataset(out, 0, sum(len(h.ts) for h in out.values()), ds.tz)


def service_check(
    ds: Dataset,
    path: Path,
    names: list[str],
    households: int,
    days: float,
    sweep_s: float,
    min_readings: int = MIN_READINGS,
) -> str:
    """The table of a subset, from the engine alone and from the service's wiring, and whether their tickets
    are the same (household, opening rule, date; the service's clock time of a ticket is when it was filed)."""
    sub = subset(ds, households, days, min_readings)
    bench = Bench(sub, 1, sweep_s=sweep_s, min_readings=0)
    lines = [
        f"Service check: {len(sub.households)} households of {path.name}, their first {days:g} days "
        f"({bench.span.months:.1f} household-months), one incident each.",
        "",
    ]
    for name in names:
        rows: list[Scored] = []
        got: dict[str, tuple[list[sc.Raised], list[list[sc.Raised]]]] = {}
        for label, run in (("engine", bench.engine), ("service", bench.service)):
            t = time.perf_counter()
            clean, cut = run(SETTINGS[name])
            got[label] = (clean, cut)
            rows.append(bench.score(f"{name}: {label}", clean, cut, NO_WATER, time.perf_counter() - t))
        same = all(
            sorted((r.key, r.rule, r.dated) for r in x) == sorted((r.key, r.rule, r.dated) for r in y)
            for x, y in zip([got["engine"][0], *got["engine"][1]], [got["service"][0], *got["service"][1]], strict=True)
        )
        lines += table(rows)
        lines += [
            "",
            f"{name}: the same tickets (household, opening rule, date): {'yes' if same else 'NO'}; "
            f"engine {rows[0].wall_s:.0f} s, service {rows[1].wall_s:.0f} s.",
            "",
        ]
    return "\n".join(lines)


def _setting(bench: Bench, name: str) -> Scored:
    t = time.perf_counter()
    clean, cut = bench.engine(SETTINGS[name])
    wall = time.perf_counter() - t
    print(f"bench.care: {name}: {wall:.0f} s", file=sys.stderr)
    return bench.score(name, clean, cut, NO_WATER, wall)


def _run_setting(job: tuple[Path, int, float, str]) -> Scored:
    """One setting in a worker process (`--jobs`): the same data, seed and incidents as the parent's."""
    path, rounds, sweep_s, name = job
    return _setting(Bench(load(path), rounds, sweep_s=sweep_s), name)


def _as_json(s: Scored) -> dict[str, Any]:
    q, f = s.quiet, s.fast
    return {
        "name": s.name,
        "months": q.months,
        "per_rule": q.per_rule,
        "no_water": q.no_water,
        "false": q.false,
        "multi": q.multi,
        "offline": q.offline,
        "incidents": f.incidents,
        "detected": f.detected,
        "delay_median_h": f.pct(50),
        "delay_p95_h": f.pct(95),
        "in_quiet": f.in_quiet,
    }
