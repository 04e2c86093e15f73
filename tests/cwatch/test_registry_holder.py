"""`RegistryHolder.replace`: every listener hears of a new registry even when one of them fails, and a failed
round is done again (the watcher sees the old revision)."""

from __future__ import annotations

import pytest

from cwatch.app import RegistryHolder
from devices.registry import Registry
from tests.rules.support import registry


def test_a_failing_listener_neither_silences_the_others_nor_loses_the_change() -> None:
    old, new = registry(), registry()
    holder = RegistryHolder(old, revision=1)
    heard: list[tuple[str, Registry]] = []
    fail = [True]

    def rules(reg: Registry) -> None:
        if fail:
            fail.pop()
            raise RuntimeError("rescope failed")
        heard.append(("rules", reg))

    listeners = [rules, lambda reg: heard.append(("ingest", reg))]
    with pytest.raises(RuntimeError, match="rescope failed"):
        holder.replace(new, 2, listeners)
    assert heard == [("ingest", new)]
    assert holder.revision == 1  # so the watcher loads revision 2 again
    holder.replace(new, 2, listeners)
    assert heard == [("ingest", new), ("rules", new), ("ingest", new)]
    assert holder.revision == 2
