"""The relational store's migrations (Alembic): one chain of revisions under `versions/` for SQLite and
PostgreSQL, compared against the tables every package declares on its own `MetaData`. `cwatch.schema` runs
them; `cwatch db revision -m "..."` writes the next one by autogenerate (see CONTRIBUTING.md)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

import alerts.tables as alerts_tables
import devices.store as devices_store
import ingest.deadletter as deadletter
import rules.state as rules_state

SCRIPTS = Path(__file__).resolve().parent
"""Where `env.py` and `versions/` are: inside the installed package, so a wheel migrates without the source."""

BOOKKEEPING = frozenset({"alembic_version", "cwatch_schema"})
"""Tables the migrations keep for themselves, not declared by any package: autogenerate leaves them alone."""


def target_metadata() -> list[MetaData]:
    """Every package's tables: what a database at the head revision holds."""
    return [devices_store.METADATA, deadletter.metadata, rules_state.metadata, alerts_tables.metadata]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate's filter: everything but the bookkeeping tables."""
    return not (type_ == "table" and name in BOOKKEEPING)


def alembic_config(connection: Connection | None = None, scripts: Path = SCRIPTS) -> Config:
    """Alembic's configuration without an ini file: the scripts in this package, and the connection (inside the
    caller's transaction) that `env.py` migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(scripts).replace("%", "%%"))
    cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg
