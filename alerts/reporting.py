"""A report for one viewer: the scope they may review, its areas named from the registry, the store's counts
rolled up (`alerts.reports`). Scoped like every ticket: a leader reviews their micro-grid, the street its
communities and grids, an operator anything."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.model import Account
from alerts.report_query import report_counts
from alerts.reports import Area, Period, Report, ReportError, build_report
from alerts.scope import NODE_LEVELS, Hierarchy, as_node_ids, collection, in_scope, sees_all, within
from alerts.service import TicketService
from core.i18n import tr

#: The levels a report groups by, outermost first, and where the registry holds each.
LEVELS = {level: attr for level, attr, _ in NODE_LEVELS if level != "building"}
_LEVEL_NAMES = tuple(LEVELS)


def _collection(hierarchy: Hierarchy, level: str) -> Mapping[str, object]:
    return collection(hierarchy, LEVELS[level])


def level_of(hierarchy: Hierarchy, node_id: str) -> str | None:
    return next((level for level in LEVELS if node_id in _collection(hierarchy, level)), None)


def area(hierarchy: Hierarchy, level: str, node_id: str) -> Area:
    name = getattr(_collection(hierarchy, level).get(node_id), "name", None)
    return Area(node_id, level, name if isinstance(name, str) and name else node_id)


def _ancestor_at(hierarchy: Hierarchy, microgrid_id: str, level: str) -> str | None:
    if level == "microgrid":
        return microgrid_id
    for node_id in as_node_ids(hierarchy.chain_above(microgrid_id)):
        if node_id in _collection(hierarchy, level):
            return node_id
    return None


def _may_review(viewer: Account, scope_id: str, hierarchy: Hierarchy) -> bool:
    return sees_all(viewer) or scope_id == viewer.scope_id or within(hierarchy, scope_id, viewer.scope_id)


async def viewer_report(
    service: TicketService, viewer: Account, period: Period, scope_id: str | None, by: str | None
) -> Report:
    """The report of `scope_id` (default the viewer's scope) with areas at level `by` (default one below)."""
    hierarchy = service.registry()
    scope_id = scope_id or viewer.scope_id
    scope_level = level_of(hierarchy, scope_id)
    if scope_level is None or not _may_review(viewer, scope_id, hierarchy):
        # the same answer for unknown and foreign areas: nothing leaks
        raise ReportError(tr("errors.report_no_area", scope=scope_id))
    below = _LEVEL_NAMES[min(_LEVEL_NAMES.index(scope_level) + 1, len(_LEVEL_NAMES) - 1)]
    by = by or below
    if by not in _LEVEL_NAMES or _LEVEL_NAMES.index(by) < _LEVEL_NAMES.index(scope_level):
        allowed = ", ".join(_LEVEL_NAMES[_LEVEL_NAMES.index(scope_level) :])
        raise ReportError(tr("errors.report_bad_by", allowed=allowed))
    microgrids = [
        m
        for m in _collection(hierarchy, "microgrid")
        if (m == scope_id or within(hierarchy, m, scope_id)) and in_scope(viewer, m, hierarchy)
    ]
    # tickets of micro-grids no longer in the registry stay in an operator's street-wide figures
    stored = await service.store.microgrid_ids()
    if sees_all(viewer) and scope_level == "street":
        microgrids += [m for m in stored if m not in microgrids and level_of(hierarchy, m) is None]
    rows = await report_counts(service.engine, microgrids, period)

    def area_of(microgrid_id: str) -> Area:
        node = _ancestor_at(hierarchy, microgrid_id, by)
        return area(hierarchy, by, node) if node is not None else Area(microgrid_id, by, microgrid_id)

    # the registry's order (the CSV's, the wall's): 第一网格 before 第二网格, which sorting by name would not give
    order = {node_id: i for i, node_id in enumerate(_collection(hierarchy, by))}
    areas = sorted(
        {a.id: a for a in (area_of(m) for m in microgrids if level_of(hierarchy, m) is not None)}.values(),
        key=lambda a: order.get(a.id, len(order)),
    )
    return build_report(
        rows,
        scope=area(hierarchy, scope_level, scope_id),
        period=period,
        area_level=by,
        area_of=area_of,
        sla=service.sla,
        areas=areas,
    )
