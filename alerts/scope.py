"""What `alerts` needs from the grid registry, and the scoping rule built on it.

`Hierarchy` is the slice of `devices`' in-memory `Registry` this package uses; the service takes a
`Callable[[], Hierarchy]` so a reloaded registry is picked up without restarting. The registry's answers are
normalised here (a person or a list of people; node ids or node objects) so the rest of the package relies on
one shape only.

Scoping rule: an account sees and touches a ticket only when the ticket's micro-grid lies within the
account's scope node (its own micro-grid, its grid, community or street); operators see everything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from alerts.model import Account
from devices.model import Person, Role


class Hierarchy(Protocol):
    def is_within(self, node_id: str, scope_id: str) -> bool:
        """True when `node_id` is `scope_id` or lies below it."""
        ...

    def on_duty(self, microgrid_id: str, when: datetime) -> object:
        """The people on duty in the micro-grid at `when` (a `Person`, a sequence of them, or None)."""
        ...

    def people_at(self, scope_id: str, role: Role) -> object:
        """The people with `role` whose scope is `node_id` (a sequence of `Person`)."""
        ...

    def chain_above(self, microgrid_id: str) -> object:
        """The ancestors of the micro-grid, nearest first (ids, `(level, id)` pairs or nodes with an `id`)."""
        ...


def as_people(value: object) -> list[Person]:
    """Normalise a registry answer to a list of people."""
    if value is None:
        return []
    if isinstance(value, Person):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [p for p in value if isinstance(p, Person)]
    return []


def as_node_ids(value: object) -> list[str]:
    """Normalise a registry answer to a list of node ids."""
    if value is None or isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return []
    out: list[str] = []
    for node in value:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, tuple) and node and isinstance(node[-1], str):
            out.append(node[-1])  # (Level, id)
        else:
            node_id = getattr(node, "id", None)
            if isinstance(node_id, str):
                out.append(node_id)
    return out


#: The grid's levels outermost first, as the registry holds them: (level, collection attribute, parent attribute).
NODE_LEVELS: tuple[tuple[str, str, str | None], ...] = (
    ("street", "streets", None),
    ("community", "communities", "street_id"),
    ("grid", "grids", "community_id"),
    ("microgrid", "microgrids", "grid_id"),
    ("building", "buildings", "microgrid_id"),
)


def collection(hierarchy: Hierarchy, attr: str) -> Mapping[str, object]:
    """One of the registry's collections by attribute name (`microgrids`, ...); empty when it has none."""
    items = getattr(hierarchy, attr, None)
    return items if isinstance(items, Mapping) else {}


def node_label(hierarchy: Hierarchy, node_id: str) -> str:
    """A grid node's name (a street, community, grid, micro-grid or building) for a person to read, else its id."""
    for _, attr, _ in NODE_LEVELS:
        name = getattr(collection(hierarchy, attr).get(node_id), "name", None)
        if isinstance(name, str) and name:
            return name
    return node_id


def within(hierarchy: Hierarchy, node_id: str, scope_id: str) -> bool:
    """`hierarchy.is_within`, with a node the registry does not know counted as outside."""
    try:
        return bool(hierarchy.is_within(node_id, scope_id))
    except (KeyError, LookupError, ValueError):
        return False


def sees_all(account: Account) -> bool:
    return account.role == Role.OPERATOR


def in_scope(account: Account, microgrid_id: str, hierarchy: Hierarchy) -> bool:
    """The scoping rule: operators see all; everyone else sees the micro-grids within their scope node."""
    return sees_all(account) or microgrid_id == account.scope_id or within(hierarchy, microgrid_id, account.scope_id)


def visible_microgrids(account: Account, microgrid_ids: Iterable[str], hierarchy: Hierarchy) -> list[str]:
    """The subset of `microgrid_ids` the account may see."""
    return sorted({m for m in microgrid_ids if in_scope(account, m, hierarchy)})
