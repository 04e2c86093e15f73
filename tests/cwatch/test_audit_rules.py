"""A reload of the rules or of the escalation policies lands in the audit log: what file, which content, how
many rules (policies); a policy file changed under a running holder is audited as it takes."""

from __future__ import annotations

import contextlib
from pathlib import Path

from alerts.audit import AuditLog
from alerts.policies import PolicyHolder, default_policies_path
from alerts.tables import create_tables
from core.db import make_engine
from cwatch.app import _audit_reload


async def test_a_rules_reload_is_audited(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await create_tables(engine)
    try:
        async with contextlib.AsyncExitStack() as stack:
            on_reload = _audit_reload(engine, stack)
            on_reload(tmp_path / "rules.yaml", "ab" * 32, 12)
        [entry] = await AuditLog(engine).list()  # the stack waited for the write
        assert (entry.action, entry.actor, entry.source) == ("rules.reload", "service", "file")
        assert entry.target.endswith("rules.yaml")
        assert entry.details == {"sha256": "ab" * 32, "rules": 12}
    finally:
        await engine.dispose()


async def test_a_policies_reload_is_audited(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await create_tables(engine)
    path = tmp_path / "policies.yaml"
    text = default_policies_path().read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    try:
        async with contextlib.AsyncExitStack() as stack:
            holder = PolicyHolder(path, on_reload=_audit_reload(engine, stack, "policies"))
            path.write_text(text.replace("wait: 30m", "wait: 20m"), encoding="utf-8")
            assert holder.maybe_reload()
        [entry] = await AuditLog(engine).list()
        assert (entry.action, entry.actor, entry.source) == ("policies.reload", "service", "file")
        assert entry.target.endswith("policies.yaml")
        assert entry.details["policies"] == len(holder().policies)
    finally:
        await engine.dispose()
