"""The registry's `away_until` silences a household's care rules like "away confirmed", so an import bounds it
alike: at most `care.away_max_days` after the import and with a reason, and the audit log says who imported
each away and why (`registry.away`). Both ways in: `cwatch registry import` and `registry.path` at start-up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.audit import AuditLog
from core.clock import ManualClock
from cwatch.app import load_initial_registry
from cwatch.commands import import_registry
from cwatch.settings import load_settings
from cwatch.store import IMPORT_AWAY, audit_registry, open_store
from devices.csvio import folder_digest, load_registry, save_registry
from devices.errors import RegistryError
from devices.store import load_registry_db, save_registry_db
from tests.devices.factory import tiny

MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()  # h1 of `tiny` is away until 2026-03-05 18:00 +08:00


def _config(tmp_path: Path, folder: Path | None = None) -> Path:
    cfg = tmp_path / "cwatch.toml"
    text = f'data_dir = "{tmp_path / "data"}"\n'
    if folder is not None:
        text += f'[registry]\npath = "{folder}"\n'
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _away_for_good(folder: Path) -> None:
    path = folder / "households.csv"
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text.replace("2026-03-05T18:00:00+08:00", "9999-12-31T00:00:00+08:00"), encoding="utf-8")


async def test_an_import_records_who_holds_each_household_away_and_why(tmp_path: Path) -> None:
    folder = tmp_path / "street"
    save_registry(tiny(), folder)
    settings = load_settings(_config(tmp_path))
    await import_registry(settings, folder, clock=ManualClock(MARCH_1))
    async with open_store(settings) as engine:
        rows = await AuditLog(engine).list(action=IMPORT_AWAY)
    assert [(r.target, r.source, r.details["reason"]) for r in rows] == [("h1", "cli", "住院 hospital stay")]
    assert rows[0].actor.startswith("cli:")
    assert rows[0].details["until"] == datetime.fromisoformat("2026-03-05T18:00:00+08:00").timestamp()

    # once the date has passed, an import of the same folder holds nobody away: no row
    await import_registry(settings, folder, clock=ManualClock(MARCH_1 + 10 * 86_400))
    async with open_store(settings) as engine:
        assert len(await AuditLog(engine).list(action=IMPORT_AWAY)) == 1


async def test_an_import_away_for_good_is_refused_and_nothing_is_saved(tmp_path: Path) -> None:
    folder = tmp_path / "street"
    save_registry(tiny(), folder)
    _away_for_good(folder)
    settings = load_settings(_config(tmp_path))
    with pytest.raises(RegistryError) as info:
        await import_registry(settings, folder, clock=ManualClock(MARCH_1))
    assert [(p.file, p.line, p.column) for p in info.value.problems] == [("households.csv", 2, "away_until")]
    async with open_store(settings) as engine:
        assert await load_registry_db(engine) is None


async def test_a_start_refuses_a_folder_holding_a_household_away_for_good(tmp_path: Path) -> None:
    folder = tmp_path / "street"
    save_registry(tiny(), folder)
    settings = load_settings(_config(tmp_path, folder))
    async with open_store(settings) as engine:
        reg, _ = await load_initial_registry(engine, settings, None, ManualClock(MARCH_1))
        assert reg.households["h1"].care.away_reason == "住院 hospital stay"
        _away_for_good(folder)
        with pytest.raises(RegistryError, match=r"households.csv:2: away_until: away until 9999-12-31"):
            await load_initial_registry(engine, settings, None, ManualClock(MARCH_1))


async def test_a_start_reads_again_a_folder_an_earlier_release_imported_unbounded(tmp_path: Path) -> None:
    """A store holding the folder's import unchanged is read instead of the folder; an import of an earlier
    release, which took any date, is not trusted so: the folder is read, and refused."""
    folder = tmp_path / "street"
    save_registry(tiny(), folder)
    _away_for_good(folder)
    settings = load_settings(_config(tmp_path, folder))
    async with open_store(settings) as engine:
        digest = folder_digest(folder)
        old = load_registry(folder)  # as an earlier release imported it: no bound
        revision = await save_registry_db(engine, old)
        await audit_registry(engine, "service", "config", folder, old, digest=digest, revision=revision)
        with pytest.raises(RegistryError, match=r"households.csv:2: away_until"):
            await load_initial_registry(engine, settings, None, ManualClock(MARCH_1))


async def test_a_start_from_the_store_names_the_households_an_earlier_import_held_away_unbounded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without `registry.path` the stored registry is used as it is (the service watches more than these
    households), and the households it holds away beyond the bound are named with the way to fix them."""
    folder = tmp_path / "street"
    save_registry(tiny(), folder)
    _away_for_good(folder)
    settings = load_settings(_config(tmp_path))
    async with open_store(settings) as engine:
        await save_registry_db(engine, load_registry(folder))  # as an earlier release imported it
        await load_initial_registry(engine, settings, None, ManualClock(MARCH_1))
    [said] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "households held away beyond care.away_max_days or without a reason (1)" in said
    assert ": h1; export the registry" in said
