"""`registry.path` at start-up: the folder is imported and saved when it changed since its last import, and read
back from the store (no save, no new revision) when it did not; a registry saved meanwhile by anything else
makes the start import the folder again."""

from __future__ import annotations

from pathlib import Path

from cwatch.app import load_initial_registry
from cwatch.settings import load_settings
from cwatch.store import open_store
from devices.csvio import load_registry, save_registry
from devices.sample import sample_street
from devices.store import save_registry_db


def _config(tmp_path: Path, folder: Path) -> Path:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[registry]\npath = "{folder}"\n', encoding="utf-8")
    return cfg


async def test_an_unchanged_folder_is_not_saved_again(tmp_path: Path) -> None:
    folder = tmp_path / "street"
    save_registry(sample_street(3), folder)
    settings = load_settings(_config(tmp_path, folder))
    async with open_store(settings) as engine:
        reg, first = await load_initial_registry(engine, settings, None)
        again, second = await load_initial_registry(engine, settings, None)
        assert second == first  # nothing written: the revision stays
        assert again == reg == load_registry(folder)

        # an edit of the folder is imported
        path = folder / "households.csv"
        path.write_text(path.read_text(encoding="utf-8").replace(",19-101,", ",19-101a,", 1), encoding="utf-8")
        edited, third = await load_initial_registry(engine, settings, None)
        assert third == second + 1
        assert edited == load_registry(folder) != reg

        # another registry saved meanwhile (an import of another folder, an API edit): the folder wins again
        await save_registry_db(engine, sample_street(4))
        back, fifth = await load_initial_registry(engine, settings, None)
        assert fifth == third + 2
        assert back == edited
