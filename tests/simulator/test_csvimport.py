"""CSV time series become protocol messages in time order, with per-device sequence numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.model import DeviceClass
from devices.payloads import Channel, model_for
from devices.registry import Registry
from simulator.csvimport import import_csv
from simulator.errors import RecordingError


def test_rows_become_valid_messages_sorted_by_time(street: Registry, tmp_path: Path) -> None:
    meter = next(
        d for d in sorted(street.devices.values(), key=lambda d: d.id) if d.device_class is DeviceClass.WATER_METER
    )
    path = tmp_path / "meter.csv"
    path.write_text(
        "ts,device_id,volume_m3,flow_lpm,leak\n"
        f"2026-03-02T09:00:00,{meter.id},12.5,0,false\n"
        f"1772409600,{meter.id},12.4,1.5,false\n"  # 2026-03-02 08:00 China time, earlier: goes first
        f"2026-03-02T10:00:00+08:00,{meter.id},12.61,6.2,true\n",
        encoding="utf-8",
    )
    msgs = import_csv(path, registry=street)
    assert [m.ts for m in msgs] == sorted(m.ts for m in msgs)
    bodies = [json.loads(m.payload) for m in msgs]
    assert [b["volume_m3"] for b in bodies] == [12.4, 12.5, 12.61]
    assert [b["seq"] for b in bodies] == [0, 1, 2]
    assert bodies[2]["leak"] is True
    model = model_for(DeviceClass.WATER_METER, Channel.TELEMETRY)
    assert model is not None
    for m in msgs:
        model.model_validate_json(m.payload)
        assert m.topic.endswith(f"/{meter.id}/telemetry")


def test_a_bad_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ts,device_id,x\n1772409600,WM-1,1\nyesterday,WM-1,2\n", encoding="utf-8")
    with pytest.raises(RecordingError, match=r"bad.csv:3:"):
        import_csv(path, community="c-x")
    path.write_text("time,device\n", encoding="utf-8")
    with pytest.raises(RecordingError, match="ts and device_id"):
        import_csv(path)
