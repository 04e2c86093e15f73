"""The field declarations (`devices.fields`) against what is derived from them: every model attribute is declared,
docs/registry.md shows the declared tables, and every field survives CSV -> registry -> store -> registry -> CSV
with a value other than its default."""

from __future__ import annotations

import dataclasses
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from core.db import make_engine
from devices.csvio import load_registry, save_registry
from devices.fields import ENTITIES, Entity, documented, update_doc
from devices.model import ChannelKind, ContactPoint, DeviceClass, DutyShift, QuietHours
from devices.registry import Registry
from devices.store import create_tables, load_registry_db, save_registry_db
from tests.devices.factory import T0, tiny

DOC = Path(__file__).resolve().parents[2] / "docs" / "registry.md"


def attributes(cls: type, parts: dict[str, type]) -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        if f.name in parts:
            out |= {f"{f.name}.{name}" for name in attributes(parts[f.name], {})}
        else:
            out.add(f.name)
    return out


def test_every_model_attribute_is_declared_once() -> None:
    for e in ENTITIES:
        declared = [f.attr for f in e.fields]
        assert len(declared) == len(set(declared)), e.name
        assert set(declared) == attributes(e.cls, dict(e.parts)), e.name
        assert len(set(e.columns)) == len(e.columns), e.name


def test_required_columns_come_first() -> None:
    """Files are written in declaration order, and a clerk reads the required columns first."""
    for e in ENTITIES:
        flags = [f.required for f in e.fields]
        assert flags == sorted(flags, reverse=True), e.name


def test_docs_tables_match_the_declarations() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert documented(text) == [e.name for e in ENTITIES]
    assert update_doc(text) == text, "docs/registry.md is stale: run `python -m devices.fields docs/registry.md`"


def full() -> Registry:
    """`tiny()` with a value other than the default in every field of every collection."""
    reg = tiny()
    b1, b2, b3 = reg.buildings.values()
    devices = list(reg.devices.values())
    people = list(reg.people.values())
    return reg.with_changes(
        buildings=[
            dataclasses.replace(b1, lat=30.265202, lon=120.142234),
            dataclasses.replace(b2, lat=-33.8688, lon=-151.2093),
            b3,
        ],
        people=[dataclasses.replace(people[0], email="zhao.qiang@example.org", lang="en"), *people[1:]],
        devices=[
            dataclasses.replace(devices[0], installed=date(2023, 4, 18), gateway_id="lora-gw-03", label="水表, 厨房"),
            *devices[1:],
            dataclasses.replace(
                devices[0], id="GD-1", device_class=DeviceClass.GAS_DETECTOR, gateway_id="nb-1", offline_after_s=1200
            ),
        ],
        roster=[*reg.roster, DutyShift("p-w2", "m1", T0 + timedelta(hours=2), T0 + timedelta(hours=6), "p-w1")],
        contacts=[
            ContactPoint(ChannelKind.WECOM, "zhaoqiang", person_id=people[0].id, priority=2),
            ContactPoint(
                ChannelKind.SMS,
                "+86 138-0000-0000",
                household_id=next(iter(reg.households)),
                name="王伟",
                relation="儿子",
                consent=True,
                quiet_hours=QuietHours(time(22, 0), time(6, 30)),
                lang="zh-CN",
            ),
        ],
    )


def not_default(entity: Entity[Any], reg: Registry) -> set[str]:
    items = getattr(reg.collections(), entity.name)
    return {
        f.attr
        for item in items
        for f, value in zip(entity.fields, entity.values(item), strict=True)
        if f.required or value != f.default
    }


async def test_every_field_round_trips_through_csv_and_the_store(tmp_path: Path, store_url: str) -> None:
    reg = full()
    for e in ENTITIES:
        assert not_default(e, reg) == {f.attr for f in e.fields}, f"give full() a non-default {e.name} value"
    save_registry(reg, tmp_path / "before")
    loaded = load_registry(tmp_path / "before")
    assert loaded == reg
    engine = make_engine(store_url)
    try:
        await create_tables(engine)
        await save_registry_db(engine, loaded)
        stored = await load_registry_db(engine)
    finally:
        await engine.dispose()
    assert stored == reg
    assert stored is not None
    save_registry(stored, tmp_path / "after")
    for e in ENTITIES:
        assert (tmp_path / "after" / e.file).read_bytes() == (tmp_path / "before" / e.file).read_bytes(), e.file
