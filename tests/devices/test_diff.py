from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from devices.csvio import check_folder, save_registry
from devices.diff import registry_diff
from devices.model import Device, DeviceClass, DutyShift
from tests.devices.factory import T0, tiny


def test_no_changes() -> None:
    d = registry_diff(tiny(), tiny())
    assert not d
    assert d.summary() == "no changes"


def test_added_removed_changed() -> None:
    old = tiny()
    h1 = old.households["h1"]
    new = old.with_changes(
        households=[replace(h1, floor=2)],
        devices=[Device("GD-1", DeviceClass.GAS_DETECTOR, "b1", "h2")],
        remove=["SD-2"],
        roster=[*old.roster[1:], DutyShift("p-w2", "m1", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=12))],
    )
    d = registry_diff(old, new)
    assert d
    assert d.collections["devices"].added == ("GD-1",)
    assert d.collections["devices"].removed == ("SD-2",)
    assert d.collections["households"].changed == ("h1",)
    assert not d.collections["buildings"]
    assert (d.shifts_added, d.shifts_removed) == (1, 1)
    assert d.summary() == "households: +0 -0 ~1\ndevices: +1 -1 ~0\nroster: +1 -1 shifts"


def test_check_folder(tmp_path: Path) -> None:
    save_registry(tiny(), tmp_path)
    assert check_folder(tmp_path) == []
    (tmp_path / "streets.csv").write_text("id,name\nst,幸福街道\nst,again\n", encoding="utf-8")
    problems = check_folder(tmp_path)
    assert [(p.file, p.line, p.column) for p in problems] == [("streets.csv", 3, "id")]
