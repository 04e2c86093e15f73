"""Prometheus metrics of the ingester, registered on a registry the caller passes in (never the global one),
so tests and several ingesters in one process do not collide and `/metrics` shows exactly what was wired.

The telemetry drain counts on `DrainMetrics`, in the ingester's process or in its drain process. There it runs
in prometheus_client's multiprocess mode: the ingester starts it with `PROMETHEUS_MULTIPROC_DIR` set to a
directory of its own (`DrainMetricFiles`, emptied when the ingester starts), where the child keeps its values in
memory-mapped files. `IngestMetrics` is one collector that adds those values to its own series of the same name
and labels, so `/metrics` shows one ingester whichever process did the work. The files of a drain process that
ended are folded into one file, so counters never go back when it is started again.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class DrainMetrics:
    """What the telemetry drain counts, wherever it runs. Registered on `registry` when one is given."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry
        self.stored = Counter(
            "cwatch_ingest_stored", "Readings written to the telemetry sink (after the spool).", registry=r
        )
        self.refused = Counter(
            "cwatch_ingest_refused", "Messages or readings refused, by reason.", ["reason"], registry=r
        )
        self.batch_write_seconds = Histogram(
            "cwatch_ingest_batch_write_seconds",
            "Latency of one batch write, by stage (spool append, sink write).",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ingest_lag = Histogram(
            "cwatch_ingest_lag_seconds",
            "Time from receiving a message to its reading being stored in the telemetry sink.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.sink_errors = Counter(
            "cwatch_ingest_sink_unavailable", "Sink writes that failed because the database was down.", registry=r
        )
        self.consumer_errors = Counter(
            "cwatch_ingest_consumer_errors", "Failures of a spool consumer, retried.", ["consumer"], registry=r
        )


class IngestMetrics(DrainMetrics):
    """Every ingest metric, named `cwatch_ingest_*`, plus those of the drain process when `drain_files` is given."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, drain_files: DrainMetricFiles | None = None
    ) -> None:
        super().__init__(None)  # collected through this object, merged with the drain process's values
        self.registry = registry if registry is not None else CollectorRegistry()
        self.drain_files = drain_files
        self.received = Counter("cwatch_ingest_received", "MQTT messages received from the broker.", registry=None)
        self.spooled = Counter("cwatch_ingest_spooled", "Readings appended to the durable spool.", registry=None)
        self.duplicates = Counter(
            "cwatch_ingest_duplicates",
            "Readings dropped because their (device, seq) was already spooled.",
            registry=None,
        )
        self.spool_depth = Gauge(
            "cwatch_ingest_spool_depth", "Readings a spool consumer has still to process.", ["consumer"], registry=None
        )
        self.spool_age = Gauge(
            "cwatch_ingest_spool_age_seconds",
            "Age of the oldest reading a spool consumer has not processed.",
            ["consumer"],
            registry=None,
        )
        self.spool_bytes = Gauge("cwatch_ingest_spool_bytes", "Live bytes in the spool file.", registry=None)
        self.reconnects = Counter(
            "cwatch_ingest_reconnects", "Connections to the broker after the first.", registry=None
        )
        self.connected = Gauge("cwatch_ingest_broker_connected", "1 while connected to the broker.", registry=None)
        self.deadletter_errors = Counter(
            "cwatch_ingest_deadletter_errors",
            "Refused messages that could not be written to dead letters.",
            registry=None,
        )
        self.drain_restarts = Counter(
            "cwatch_ingest_drain_restarts",
            "Times the telemetry drain process ended unexpectedly and was started again.",
            registry=None,
        )
        self._metrics = (
            self.received,
            self.stored,
            self.spooled,
            self.refused,
            self.duplicates,
            self.spool_depth,
            self.spool_age,
            self.spool_bytes,
            self.batch_write_seconds,
            self.ingest_lag,
            self.reconnects,
            self.connected,
            self.sink_errors,
            self.consumer_errors,
            self.deadletter_errors,
            self.drain_restarts,
        )
        self.registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return [family for metric in self._metrics for family in metric.describe()]

    def collect(self) -> Iterable[Metric]:
        families = [family for metric in self._metrics for family in metric.collect()]
        if self.drain_files is not None:
            theirs = {family.name: family for family in self.drain_files.collect()}
            for family in families:
                other = theirs.get(family.name)
                if other is not None:
                    family.samples = _added(family.samples, other.samples)
        return families


def _added(ours: list[Sample], theirs: Iterable[Sample]) -> list[Sample]:
    """`ours` with the values of `theirs` added to the samples of the same name and labels (counters and
    histograms: sums); samples only they have are appended."""
    out = list(ours)
    where = {(s.name, frozenset(s.labels.items())): i for i, s in enumerate(out)}
    for s in theirs:
        i = where.get((s.name, frozenset(s.labels.items())))
        if i is None:
            out.append(Sample(s.name, s.labels, s.value))
        else:
            out[i] = out[i]._replace(value=out[i].value + s.value)
    return out


RETIRED = "retired"
"""Stands for the pid in the name of the file that holds the sums of every drain process that ended."""


class DrainMetricFiles:
    """The directory where drain processes keep their metrics (`PROMETHEUS_MULTIPROC_DIR`), as the ingester sees
    it: emptied at the start of a run, read for `/metrics`, and tidied when a drain process ends. Only counters
    and histograms are kept there (a drain process creates no gauges)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # a scrape (any thread) never sees an ended process's values twice or not at all

    def reset(self) -> None:
        """Start a run: an empty directory (the values of an earlier run belong to that run's counters)."""
        with self._lock:
            self.path.mkdir(parents=True, exist_ok=True)
            for f in self.path.glob("*.db"):
                f.unlink()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            files = glob.glob(os.path.join(self.path, "*.db"))
            merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
            return merged

    def retire(self, pid: int) -> None:
        """Fold the values of drain process `pid`, which has ended, into the retired sums and delete its files,
        so the directory holds one file per kind however often a drain process is started again."""
        with self._lock:
            for kind in ("counter", "histogram"):
                ended = self.path / f"{kind}_{pid}.db"
                if not ended.exists():
                    continue
                sums = dict(_values(self.path / f"{kind}_{RETIRED}.db"))
                for key, value in _values(ended):
                    sums[key] = sums.get(key, 0.0) + value
                retired = MmapedDict(str(self.path / f"{kind}_{RETIRED}.db"))  # type: ignore[no-untyped-call]
                try:
                    for key, value in sums.items():
                        retired.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
                finally:
                    retired.close()  # type: ignore[no-untyped-call]
                ended.unlink()


def _values(path: Path) -> Iterator[tuple[str, float]]:
    if path.exists():
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            yield key, value
