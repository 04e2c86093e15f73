"""The pieces of `bench.latency` that decide what it measures (the figures come from `python -m bench.latency`;
its `--quick` run takes over a minute, too long for a test)."""

from __future__ import annotations

import math
from pathlib import Path

from bench.latency.setup import Waits, background, kinds, plan, write_rules
from bench.latency.stats import percentile
from devices.sample import sample_street
from rules.config import DurationRule, EventRule, HeartbeatRule, load_ruleset

WAITS = Waits(smoke_pending_s=3, door_held_s=4, silent_interval_s=2)


def test_percentiles_are_values_that_were_measured() -> None:
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert percentile(values, 50) == 0.3
    assert percentile(values, 99) == 0.5
    assert percentile(values, 0) == 0.1
    assert math.isnan(percentile([], 50))


def test_targets_are_distinct_devices_kept_out_of_the_background_and_the_storm() -> None:
    ks = kinds(WAITS)
    p = plan(sample_street(1), ks, per_kind=4, storm=300, w=WAITS)
    targets = [d for ids in p.targets.values() for d in ids]
    assert len(targets) == len(set(targets)) == 4 * len(ks)
    for k in ks:
        assert {p.registry.devices[d].device_class for d in p.targets[k.name]} == {k.device_class}
    assert len(set(p.storm)) == 300
    assert not set(p.storm) & set(targets)
    assert {p.registry.devices[d].expected_interval_s for d in p.targets["device silent"]} == {2}
    streamed = {topic.split("/")[2] for topic, _ in background(p.registry, targets)}
    assert not streamed & set(targets)
    assert len(streamed) == len(p.registry.devices) - len(targets)
    # the leader's micro-grid has some of every kind, so every role's board sees tickets
    assert all(p.registry.placement(ids[0]).microgrid_id == p.microgrid for ids in p.targets.values())  # type: ignore[union-attr]


def test_the_bench_rules_have_its_short_waits(tmp_path: Path) -> None:
    reg = sample_street(1)
    write_rules(tmp_path / "rules.yaml", WAITS)
    rules = {r.id: r for r in load_ruleset(tmp_path / "rules.yaml", reg).rules}
    smoke, held, offline = rules["smoke_alarm"], rules["door_held_open"], rules["device_offline"]
    assert isinstance(smoke, EventRule)
    assert smoke.pending == 3
    assert isinstance(held, DurationRule)
    assert held.for_ == 4
    assert isinstance(offline, HeartbeatRule)
    assert offline.k * 2 == WAITS.silent_s
