"""A rules reload (a policy change) lands in the audit log: what file, which content, how many rules."""

from __future__ import annotations

import contextlib
from pathlib import Path

from alerts.audit import AuditLog
from alerts.tables import create_tables
from core.db import make_engine
from cwatch.app import _audit_rules_reload


async def test_a_rules_reload_is_audited(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await create_tables(engine)
    try:
        async with contextlib.AsyncExitStack() as stack:
            on_reload = _audit_rules_reload(engine, stack)
            on_reload(tmp_path / "rules.yaml", "ab" * 32, 12)
        [entry] = await AuditLog(engine).list()  # the stack waited for the write
        assert (entry.action, entry.actor, entry.source) == ("rules.reload", "service", "file")
        assert entry.target.endswith("rules.yaml")
        assert entry.details == {"sha256": "ab" * 32, "rules": 12}
    finally:
        await engine.dispose()
