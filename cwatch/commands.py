"""The small commands of the CLI (`cwatch registry`, `accounts`, `audit`, `db`, `deadletters`, `rules check`,
`policies check`, `roster`): each opens the store and calls one package function; the CLI prints what it returns."""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore, check_password, check_scope
from alerts.audit import AuditLog, Who
from alerts.policies import default_policies_path, load_policies
from core.clock import Clock, SystemClock
from core.db import make_engine
from core.i18n import tr
from core.progress import Progress, silent
from cwatch.app import policies_path, rule_groups
from cwatch.errors import ServiceError
from cwatch.schema import Revisions, current_revisions, described
from cwatch.settings import Settings
from cwatch.store import audit_registry, open_store
from devices.csvio import AwayBound, folder_digest, load_registry, save_registry
from devices.model import Role
from devices.registry import Registry
from devices.roster import Duty, on_duty_next, on_duty_now
from devices.sample import sample_street
from devices.store import load_registry_db, save_registry_db
from ingest.deadletter import DeadLetters
from rules.config import default_ruleset_path, load_ruleset


async def upgrade_store(settings: Settings) -> tuple[str, Revisions]:
    """`cwatch db upgrade`: what start-up does to the store, alone. Returns the database and where it stands."""
    async with open_store(settings) as engine:
        return described(engine), await current_revisions(engine)


async def store_revisions(settings: Settings) -> tuple[str, Revisions]:
    """`cwatch db current`: where the store stands, without changing it."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.store_url)
    try:
        return described(engine), await current_revisions(engine)
    finally:
        await engine.dispose()


async def import_registry(
    settings: Settings, folder: Path, progress: Progress = silent, clock: Clock | None = None
) -> Registry:
    """`cwatch registry import`: check `folder` (households held away at most `care.away_max_days` from now,
    with a reason), save it to the store and audit it with the households it holds away."""
    clock = clock or SystemClock()
    digest = folder_digest(folder)  # before reading: a file changed meanwhile makes the next start read it again
    away = AwayBound(clock.now(), settings.care.away_max_days)
    reg = load_registry(folder, progress, away=away)  # raises RegistryError naming every problem; nothing saved
    async with open_store(settings) as engine:
        revision = await save_registry_db(engine, reg, progress)
        await audit_registry(engine, cli_user(), "cli", folder, reg, digest=digest, revision=revision, clock=clock)
    return reg


def cli_user() -> str:
    """Who runs a CLI command, for the audit log: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


async def list_audit(
    settings: Settings, *, limit: int, action: str | None, actor: str | None, before: int | None
) -> list[dict[str, Any]]:
    async with open_store(settings) as engine:
        rows = await AuditLog(engine).list(limit=limit, action=action, actor=actor, before=before)
    return [asdict(r) for r in rows]


async def export_registry(settings: Settings, folder: Path) -> None:
    async with open_store(settings) as engine:
        reg = await load_registry_db(engine)
    if reg is None:
        raise ServiceError(tr("cli.no_registry"))
    save_registry(reg, folder)


async def list_deadletters(settings: Settings, *, limit: int, reason: str | None) -> list[dict[str, Any]]:
    async with open_store(settings) as engine:
        rows = await DeadLetters(engine).list(limit=limit, reason=reason)
    return [
        {
            "id": r.id,
            "received_at": r.received_at,
            "topic": r.topic,
            "reason": str(r.reason),
            "detail": r.detail,
            "payload": r.payload_text,
        }
        for r in rows
    ]


async def add_account(
    settings: Settings,
    username: str,
    password: str,
    role: str | None,
    scope: str | None,
    name: str | None,
    person_id: str | None = None,
) -> Any:
    """Create an account; with `person_id` it is linked to that registry person ("Mine", ownership on
    acknowledge, notices), whose role and scope it takes unless given (and then they must agree). The scope must
    be a node at a level the role answers for (`alerts.accounts.SCOPE_LEVELS`)."""
    check_password(password)  # before the store is opened: nothing to undo
    async with open_store(settings) as engine:
        reg = await _stored_registry(engine, settings)
        person = None
        if person_id is not None:
            person = reg.people.get(person_id) if reg is not None else None
            if person is None:
                raise ServiceError(tr("cli.person_unknown", person=person_id))
        try:
            role_ = Role(role) if role else (person.role if person is not None else None)
        except ValueError:
            raise ServiceError(tr("cli.role_unknown", role=role, roles=", ".join(r.value for r in Role))) from None
        if role_ is None:
            raise ServiceError(tr("cli.needs_role"))
        scope = scope or (person.scope_id if person is not None else None)
        if scope is None:
            raise ServiceError(tr("cli.needs_scope"))
        if person is not None and (person.role, person.scope_id) != (role_, scope):
            raise ServiceError(
                tr(
                    "cli.person_differs",
                    person=person.id,
                    role=tr(f"names.role.{person.role.value}"),
                    scope=person.scope_id,
                    account_role=tr(f"names.role.{role_.value}"),
                    account_scope=scope,
                )
            )
        if reg is not None:
            check_scope(role_, scope, reg.level_of(scope))
        display = name or (person.name if person is not None else username)
        return await AccountStore(engine).create_account(
            username, password, role_, scope, display, person_id, by=Who(cli_user(), "cli")
        )


async def list_accounts(settings: Settings) -> list[dict[str, Any]]:
    async with open_store(settings) as engine:
        return [{**asdict(a), "role": a.role.value} for a in await AccountStore(engine).list_accounts()]


async def change_account(settings: Settings, username: str, *, disable: bool = False, password: str = "") -> None:
    """Disable an account, or set a new password (both end its sessions)."""
    if not disable:
        check_password(password)
    async with open_store(settings) as engine:
        store = AccountStore(engine)
        account = await store.by_username(username)
        if account is None:
            raise ServiceError(tr("cli.no_account", username=username))
        who = Who(cli_user(), "cli")
        if disable:
            await store.disable(account.id, by=who)
        else:
            await store.set_password(account.id, password, by=who)


@dataclass(frozen=True, slots=True)
class RosterLine:
    """One line of `cwatch roster`: a catalog key and its values."""

    key: str
    values: dict[str, str]


async def roster_report(settings: Settings, microgrid: str | None, at: datetime | None) -> list[RosterLine]:
    """Who is on duty now (or at `at`) and next in each micro-grid of the stored registry (or in `microgrid`)."""
    async with open_store(settings) as engine:
        reg = await _stored_registry(engine, settings)
    if reg is None:
        raise ServiceError("the store holds no registry yet: run `cwatch registry import FOLDER` first")
    if microgrid is not None and microgrid not in reg.microgrids:
        raise ServiceError(f"no micro-grid {microgrid!r} in the registry")
    tz = ZoneInfo(settings.timezone)
    when = at.astimezone(tz) if at is not None else datetime.now(tz)

    def clock(t: datetime) -> str:
        return t.astimezone(tz).strftime("%m-%d %H:%M")

    def values(d: Duty) -> dict[str, str]:
        covered = reg.people.get(d.shift.replaces) if d.shift.replaces else None
        covers = "" if d.shift.replaces is None else (covered.name if covered else d.shift.replaces)
        return {
            "name": d.person.name,
            "person": d.person.id,
            "role": d.person.role.value,
            "start": clock(d.shift.start),
            "end": clock(d.shift.end),
            "covers": covers,
        }

    lines: list[RosterLine] = []
    for mg in [reg.microgrids[microgrid]] if microgrid is not None else list(reg.microgrids.values()):
        lines.append(RosterLine("cli.roster_microgrid", {"id": mg.id, "name": mg.name}))
        now = on_duty_now(reg, mg.id, when)
        lines += [RosterLine("cli.roster_now", values(d)) for d in now] or [RosterLine("cli.roster_nobody", {})]
        nxt = on_duty_next(reg, mg.id, when)
        lines += [RosterLine("cli.roster_next", values(d)) for d in nxt] or [RosterLine("cli.roster_no_next", {})]
    return lines


async def check_policies(settings: Settings, path: Path | None) -> str:
    """Check a policy file against the rule set in force (its rule ids and groups); `PolicyConfigError` holds
    every problem."""
    async with open_store(settings) as engine:
        reg = await _stored_registry(engine, settings)
    if reg is None:
        reg = sample_street(1)
    ruleset = load_ruleset(Path(settings.rules.path) if settings.rules.path else default_ruleset_path(), reg)
    target = path or policies_path(settings)
    own = target != default_policies_path()  # the packaged file names rules a custom set may not have
    ps = load_policies(
        target, rules={r.id for r in ruleset.rules} if own else None, groups=rule_groups(ruleset) if own else None
    )
    return f"{target}: {len(ps.policies)} policies ({', '.join(p.name for p in ps.policies)}), valid"


async def check_rules(settings: Settings, path: Path | None) -> str:
    async with open_store(settings) as engine:
        reg = await _stored_registry(engine, settings)
    if reg is None:
        reg = sample_street(1)
    target = path or (Path(settings.rules.path) if settings.rules.path else default_ruleset_path())
    ruleset = load_ruleset(target, reg)
    return f"{target}: {len(ruleset.rules)} rules, valid"


async def _stored_registry(engine: AsyncEngine, settings: Settings) -> Registry | None:
    return await load_registry_db(engine)
