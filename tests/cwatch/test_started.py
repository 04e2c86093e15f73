"""`cwatch serve` says what it started with: broker, telemetry store, relational store and HTTP address, with
every password masked, and the transport says when it is connected to the broker."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from cwatch import redact
from cwatch.app import Service
from cwatch.settings import load_settings
from testkit.services import MosquittoProcess


async def test_serve_logs_what_it_started_with_and_masks_passwords(
    tmp_path: Path, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[http]\nport = 0\n'
        f'[mqtt]\nurl = "mqtt://cwatch-ingest:mqtt-s3cret@127.0.0.1:{mosquitto.port}"\n'
        '[telemetry]\nbackend = "influx_v1"\ninflux_url = "http://writer:influx-s3cret@127.0.0.1:1"\n',
        encoding="utf-8",
    )
    service = Service(load_settings(cfg, environ={}), demo_seed=1)  # the sample street as registry
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 60
        while "connected to the MQTT broker" not in caplog.text or not service.started.is_set():
            assert time.monotonic() < deadline, caplog.text
            assert not task.done(), task
            await asyncio.sleep(0.02)
    finally:
        service.stop()
        await asyncio.wait_for(task, timeout=60)
    assert service.parts is not None
    (started,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("started: ")]
    assert f"broker mqtt://cwatch-ingest:***@127.0.0.1:{mosquitto.port} (client id cwatch-ingest)" in started
    assert "telemetry InfluxDB http://writer:***@127.0.0.1:1 database cwatch" in started
    assert f"store sqlite+aiosqlite:///{tmp_path / 'data' / 'cwatch.db'}" in started
    assert f"HTTP http://127.0.0.1:{service.parts.http_port}" in started
    assert f"connected to the MQTT broker 127.0.0.1:{mosquitto.port} as cwatch-ingest (MQTT 5" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mqtt://ingest:s%40cret@broker:1883", "mqtt://ingest:***@broker:1883"),
        ("mqtt://ingest:p@ss@broker", "mqtt://ingest:***@broker"),
        ("postgresql+asyncpg://cwatch:pw@db:5432/cwatch", "postgresql+asyncpg://cwatch:***@db:5432/cwatch"),
        ("postgresql+asyncpg://cwatch@db/cwatch", "postgresql+asyncpg://cwatch@db/cwatch"),
        ("sqlite+aiosqlite:////var/lib/cwatch/cwatch.db", "sqlite+aiosqlite:////var/lib/cwatch/cwatch.db"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact.url(url) == shown
