"""Run the ingester alone, as its own process: `python -m cwatch.ingester --config cwatch.toml [--sample-seed 1]`.

The kill tests and the benchmark start it this way so they can SIGKILL it; `cwatch serve` runs the same
`Ingester` in-process next to the rule engine. It reads the usual settings file (`[mqtt] url` must name the
broker), uses the sample street as registry, serves /metrics with `--metrics-port`, and stops cleanly on
SIGTERM/SIGINT. On start it prints one line `ready` to stdout once the spool is open.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from core.clock import SystemClock
from core.db import make_engine
from cwatch.schema import described, ensure_schema
from cwatch.settings import load_settings
from devices.sample import sample_street
from ingest.errors import IngestConfigError
from ingest.transport import options_from_url
from ingest.wiring import build_ingester


async def serve(config: Path | None, sample_seed: int, metrics_port: int | None = None) -> None:
    settings = load_settings(config)
    if not settings.mqtt.url:
        raise IngestConfigError(
            "cwatch.ingester needs [mqtt] url (the embedded broker runs only inside `cwatch serve`)"
        )
    opts = options_from_url(settings.mqtt.url)
    data_dir = Path(settings.data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    engine = make_engine(settings.store.url or f"sqlite+aiosqlite:///{data_dir / 'cwatch.db'}")
    try:
        await ensure_schema(engine, described(engine))  # the store's tables as `cwatch serve` makes them
        registry = CollectorRegistry()
        if metrics_port is not None:
            start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
        ingester = build_ingester(
            mqtt=settings.mqtt,
            ingest=settings.ingest,
            telemetry=settings.telemetry,
            data_dir=data_dir,
            engine=engine,
            registry=sample_street(sample_seed),
            clock=SystemClock(),
            metrics=registry,
            broker_host=opts.host,
            broker_port=opts.port,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(ingester.stop()))
        print("ready", flush=True)
        try:
            await ingester.run()
        finally:
            await ingester.sink.close()
            ingester.spool.close()
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cwatch.ingester", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=None, help="settings file (TOML)")
    p.add_argument("--sample-seed", type=int, default=1, help="seed of the sample street used as registry")
    p.add_argument("--metrics-port", type=int, default=None, help="serve /metrics on 127.0.0.1:PORT")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.config, args.sample_seed, args.metrics_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
