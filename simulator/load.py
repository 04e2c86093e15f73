"""Load mode for benchmarks: N devices sending status heartbeats at a chosen total rate over real MQTT,
reporting what was published and acknowledged. Devices are the sample street's (so the ingester knows
them); beyond its size, synthetic devices of community `c-load` are added."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from devices.payloads import Channel
from devices.sample import sample_street
from devices.topics import topic_for
from simulator.message import encode, rfc3339
from simulator.publisher import Publisher


@dataclass(frozen=True, slots=True)
class LoadResult:
    devices: int
    connections: int
    qos: int
    target_rate: float
    published: int
    acknowledged: int
    refused: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.acknowledged / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rate": round(self.rate, 1)}

    def summary(self) -> str:
        target = "max" if self.target_rate <= 0 else f"{self.target_rate:.0f}/s"
        return (
            f"{self.devices} devices, {self.connections} connection(s), QoS {self.qos}, target {target}: "
            f"published {self.published}, acknowledged {self.acknowledged}, refused {self.refused} "
            f"in {self.seconds:.1f} s = {self.rate:.0f} msg/s"
        )


def device_topics(n: int, registry: Any = None) -> list[tuple[str, str]]:
    """(device id, status topic) of n devices: the registry's first, then synthetic ones."""
    if registry is None:
        registry = sample_street(1, days=1)
    out: list[tuple[str, str]] = []
    for dev_id in sorted(registry.devices)[:n]:
        p = registry.placement(dev_id)
        out.append((dev_id, topic_for(p.community_id, dev_id, Channel.STATUS)))
    for i in range(len(out), n):
        dev_id = f"LOAD-{i:07d}"
        out.append((dev_id, topic_for("c-load", dev_id, Channel.STATUS)))
    return out


def run_load(
    *,
    devices: int,
    rate: float,
    duration: float,
    host: str = "127.0.0.1",
    port: int = 1883,
    connections: int = 1,
    qos: int = 1,
    client_id: str = "cwatch-load",
    username: str | None = None,
    password: str | None = None,
    progress: bool = False,
    registry: Any = None,
) -> LoadResult:
    """Publish round-robin over the devices at `rate` msg/s (<= 0: as fast as possible) for `duration` s."""
    from tqdm import tqdm

    targets = device_topics(devices, registry)
    seqs = [0] * len(targets)
    pub = Publisher(
        host,
        port,
        connections=connections,
        qos=qos,
        client_id=client_id,
        username=username,
        password=password,
        window=max(1000, 200 * connections),
    )
    bar = tqdm(total=int(rate * duration) if rate > 0 else None, unit="msg", disable=not progress, mininterval=0.5)
    n = 0
    with pub:
        t0 = time.monotonic()
        while True:
            now = time.monotonic()
            elapsed = now - t0
            if elapsed >= duration:
                break
            due = int(elapsed * rate) + 1 if rate > 0 else n + 100
            if n >= due:
                time.sleep(min(0.01, (n + 1) / rate - elapsed))
                continue
            while n < due:
                i = n % len(targets)
                dev_id, topic = targets[i]
                body = {"ts": rfc3339(time.time()), "seq": seqs[i], "state": "heartbeat", "battery_pct": 87.0}
                seqs[i] += 1
                pub.publish(topic, encode(body), key=dev_id)
                n += 1
            bar.update(n - bar.n)
        pub.flush(timeout=60)
        st = pub.stats()
    bar.close()
    return LoadResult(len(targets), connections, qos, rate, st.published, st.acknowledged, st.refused, st.seconds)
