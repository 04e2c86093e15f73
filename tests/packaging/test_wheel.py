"""The built wheel, installed alone into a clean virtual environment, runs: its metadata declares every
dependency the service imports (the async engine's greenlet included), it ships its data files (scenarios,
default rules, the board, the store's migrations), and it builds without setuptools warnings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a build never reads: environments, caches, build output
_NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)

# the async engine on SQLite: needs greenlet, which only `sqlalchemy[asyncio]` installs
_ENGINE_CHECK = """
import asyncio, sqlalchemy as sa
from core.db import make_engine

async def main():
    engine = make_engine("sqlite+aiosqlite:///engine.db")
    async with engine.connect() as conn:
        print((await conn.execute(sa.text("select 41 + 1"))).scalar_one())
    await engine.dispose()

asyncio.run(main())
"""


def run(args: list[str], cwd: Path, *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("CWATCH")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installs_alone_and_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves no build/ folder in the working tree
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    # the development environment's setuptools builds it: no download of a build backend
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        tmp_path,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Warning" not in built.stdout + built.stderr, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("cwatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    migrations = {"env.py", "script.py.mako", "release.py", "versions/r0001_release_schema.py"}
    assert {f"cwatch/migrations/{name}" for name in migrations} <= shipped

    # a virtual environment without pip, which the development environment's pip installs into (`--python`);
    # --no-compile: byte-compiling every dependency up front took most of the install's time, and the commands
    # below compile what they import as they run
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python, cwatch = venv / "bin" / "python", venv / "bin" / "cwatch"
    installed = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile", str(wheel)],
        tmp_path,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    work = tmp_path / "work"  # neither the source nor the copy is on the path here
    work.mkdir()
    where = run([str(python), "-c", "import cwatch, devices; print(cwatch.__file__, devices.__file__)"], work)
    assert where.stdout.count(str(venv)) == 2, where.stdout + where.stderr

    helped = run([str(cwatch), "--help"], work)
    assert helped.returncode == 0, helped.stderr
    assert "usage: cwatch" in helped.stdout

    checked = run([str(cwatch), "config", "check"], work)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["http"]["port"] > 0

    # the migrations run from the installed package: no source tree, no alembic.ini
    (work / "cwatch.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    upgraded = run([str(cwatch), "-c", "cwatch.toml", "db", "upgrade"], work)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "the newest this cwatch knows" in upgraded.stdout, upgraded.stdout

    engine = run([str(python), "-c", _ENGINE_CHECK], work)
    assert engine.stdout.strip() == "42", engine.stdout + engine.stderr

    scenarios = run([str(cwatch), "simulate", "scenarios"], work)
    assert scenarios.returncode == 0, scenarios.stderr
    assert {"demo", "smoke-test", "week"} <= set(scenarios.stdout.split()), scenarios.stdout

    # the simulator's publisher is an extra: without it, one line says how to get it
    recorded = run([str(cwatch), "simulate", "record", "--port", "1", "--out", "x.jsonl", "--duration", "1"], work)
    assert recorded.returncode == 2, recorded.stdout + recorded.stderr
    assert recorded.stderr.strip() == "cwatch: simulate needs paho: pip install 'cwatch[simulator]'"
