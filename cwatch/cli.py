"""The `cwatch` command. Each subcommand is a thin shell over a package function; imports are lazy so that
`cwatch --help` and small commands start fast."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.cliwords import argparse_in
from core.errors import CwatchError
from core.i18n import env_lang, localized, render, tr
from cwatch.settings import Settings, load_settings

log = logging.getLogger("cwatch")


def text(key: str, **values: object) -> str:
    """A catalog message in the CLI's language (`CWATCH_LANG`, else the locale; English by default)."""
    return render(key, env_lang(), values)


def say(key: str, **values: object) -> None:
    print(text(key, **values))


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config or os.environ.get("CWATCH_CONFIG")
    settings = load_settings(Path(path) if path else None)
    if getattr(args, "demo_mode", False):
        settings = settings.model_copy(update={"demo": True})
    return settings


def _logging(settings: Settings, *, demo: bool = False) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if demo and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # a demo's database is new each run: Alembic's migration notes (several lines each) would only push
        # the banner with the board's address and the logins off a new user's screen
        logging.getLogger("alembic").setLevel(logging.WARNING)


# --- serve / demo -------------------------------------------------------------------------------------------


def _speed(text: str) -> float:
    """The demo's `--speed`: a positive, finite number of simulated seconds per real second."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"speed must be a positive number (60: a minute a second), got {text!r}")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from cwatch.app import run_service

    settings = _settings(args)
    _logging(settings)
    asyncio.run(run_service(settings, standby=args.standby))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cwatch.demo import DemoOptions, run_demo

    args.demo_mode = True
    settings = _settings(args)
    _logging(settings, demo=True)
    options = DemoOptions(seed=args.seed, speed=args.speed, simulate=not args.no_simulator, fresh=not args.keep)
    asyncio.run(run_demo(settings, options))
    return 0


# --- registry -----------------------------------------------------------------------------------------------


def cmd_registry_sample(args: argparse.Namespace) -> int:
    from devices.csvio import save_registry
    from devices.sample import sample_area

    reg = sample_area(args.size, args.seed)
    save_registry(reg, Path(args.folder))
    watched = sum(1 for h in reg.households.values() if h.care.watched)
    say(
        "cli.sample_written",
        size=args.size,
        folder=args.folder,
        streets=len(reg.streets),
        microgrids=len(reg.microgrids),
        households=len(reg.households),
        watched=watched,
        devices=len(reg.devices),
    )
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from cwatch.commands import import_registry
    from cwatch.progressbar import terminal_progress

    settings = _settings(args)
    with terminal_progress() as progress:
        reg = asyncio.run(import_registry(settings, Path(args.folder), progress))
    say("cli.imported", folder=args.folder, devices=len(reg.devices), households=len(reg.households))
    return 0


def cmd_registry_export(args: argparse.Namespace) -> int:
    from cwatch.commands import export_registry

    settings = _settings(args)
    asyncio.run(export_registry(settings, Path(args.folder)))
    say("cli.exported", folder=args.folder)
    return 0


# --- dead letters, accounts, schemas, checks ----------------------------------------------------------------


def cmd_deadletters(args: argparse.Namespace) -> int:
    from cwatch.commands import list_deadletters

    settings = _settings(args)
    rows = asyncio.run(list_deadletters(settings, limit=args.limit, reason=args.reason))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _new_password(username: str) -> str:
    return os.environ.get("CWATCH_NEW_PASSWORD") or getpass.getpass(text("cli.password_prompt", username=username))


def cmd_accounts_add(args: argparse.Namespace) -> int:
    from cwatch.commands import add_account

    settings = _settings(args)
    password = _new_password(args.username)
    a = asyncio.run(add_account(settings, args.username, password, args.role, args.scope, args.name, args.person))
    role = tr(f"names.role.{a.role.value}")
    if a.person_id:
        say("cli.account_created_linked", username=a.username, role=role, scope=a.scope_id, person=a.person_id)
    else:
        say("cli.account_created", username=a.username, role=role, scope=a.scope_id)
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    from cwatch.commands import list_accounts

    for row in asyncio.run(list_accounts(_settings(args))):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_accounts_disable(args: argparse.Namespace) -> int:
    from cwatch.commands import change_account

    asyncio.run(change_account(_settings(args), args.username, disable=True))
    say("cli.account_disabled", username=args.username)
    return 0


def cmd_accounts_reset_password(args: argparse.Namespace) -> int:
    from cwatch.commands import change_account

    settings = _settings(args)
    asyncio.run(change_account(settings, args.username, password=_new_password(args.username)))
    say("cli.password_set", username=args.username)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from cwatch.commands import list_audit

    settings = _settings(args)
    rows = asyncio.run(list_audit(settings, limit=args.limit, action=args.action, actor=args.actor, before=args.before))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_broker_credentials(args: argparse.Namespace) -> int:
    from cwatch.brokerfiles import (
        ACL_FILE,
        PASSWORD_FILE,
        ingester_account,
        registered_devices,
        write_broker_credentials,
    )

    settings = _settings(args)
    ingester_account(settings)  # before anything is read: a setting to fix first
    devices = asyncio.run(registered_devices(settings))
    written = write_broker_credentials(
        settings, Path(args.folder), devices, rotate=tuple(args.rotate), gateways=args.gateways
    )
    g = written.generation
    removed = f" ({', '.join(g.removed[:10])}{', ...' if len(g.removed) > 10 else ''})" if g.removed else ""
    say(
        "cli.broker_written",
        passwd=written.folder / PASSWORD_FILE,
        acl=written.folder / ACL_FILE,
        new=len(g.new),
        kept=g.kept,
        removed=len(g.removed),
        which=removed,
    )
    if written.secrets is not None:
        say("cli.broker_secrets", path=written.secrets)
    say("cli.broker_reload")
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from devices.schemas import write_schemas

    written = write_schemas(Path(args.folder))
    say("cli.schemas_written", n=len(written), folder=args.folder)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from cwatch.commands import upgrade_store

    where, at = asyncio.run(upgrade_store(_settings(args)))
    say("cli.db_newest", where=where, current=at.current)
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    """Exit 0 when the store is at this cwatch's newest revision, 1 when start-up would migrate it, 2 when a
    newer cwatch wrote it."""
    from cwatch.commands import store_revisions

    where, at = asyncio.run(store_revisions(_settings(args)))
    if not at.known:
        say("cli.db_newer", where=where, current=at.current, head=at.head)
        return 2
    if at.up_to_date:
        say("cli.db_newest", where=where, current=at.current)
        return 0
    state = tr("cli.db_at", current=at.current) if at.current else tr("cli.db_none")
    say("cli.db_will_migrate", where=where, state=state, head=at.head)
    return 1


def cmd_db_revision(args: argparse.Namespace) -> int:
    from cwatch.schema import new_revision

    path = new_revision(args.message, autogenerate=not args.empty)
    # a development environment has ruff (the `dev` extra): the file comes out in the project's style
    if importlib.util.find_spec("ruff") is not None:
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(path)], check=False)
    say("cli.db_revision_written", path=path)
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    from cwatch.commands import check_rules

    settings = _settings(args)
    summary = asyncio.run(check_rules(settings, Path(args.file) if args.file else None))
    print(summary)
    return 0


def cmd_roster(args: argparse.Namespace) -> int:
    from datetime import datetime

    from cwatch.commands import roster_report

    settings = _settings(args)
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            print(f"cwatch: --at {args.at!r}: expected ISO 8601, e.g. 2026-03-01T20:00+08:00", file=sys.stderr)
            return 2
        if at.tzinfo is None:
            print(f"cwatch: --at {args.at!r}: give a UTC offset, e.g. +08:00", file=sys.stderr)
            return 2
    for line in asyncio.run(roster_report(settings, args.microgrid, at)):
        values = dict(line.values)
        if values.get("covers"):
            values["covers"] = text("cli.roster_covers", name=values["covers"])
        if "role" in values:
            values["role"] = tr(f"names.role.{values['role']}")
        say(line.key, **values)
    return 0


def cmd_policies_check(args: argparse.Namespace) -> int:
    from alerts.errors import PolicyConfigError
    from cwatch.commands import check_policies

    settings = _settings(args)
    try:
        summary = asyncio.run(check_policies(settings, Path(args.file) if args.file else None))
    except PolicyConfigError as e:
        for problem in e.problems:  # every problem, each as file:line: key: reason
            print(problem, file=sys.stderr)
        return 2
    print(summary)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(json.dumps(settings.model_dump(), indent=2, ensure_ascii=False))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.cli import run

    return run(args)


# --- parser -------------------------------------------------------------------------------------------------


def _h(key: str, **values: object) -> str:
    """A help text of `cwatch --help` in the CLI's language (`core/messages/cli.toml`, `help.*`)."""
    return text(f"cli.help.{key}", **values)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cwatch", description=_h("description"))
    p.add_argument("--config", "-c", help=_h("config_file"))
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=fn)
        return sp

    serve = add("serve", cmd_serve, _h("serve"))
    serve.add_argument(
        "--standby",
        action="store_true",
        help=_h("standby"),
    )
    demo = add("demo", cmd_demo, _h("demo"))
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--speed", type=_speed, default=1.0, help=_h("speed"))
    demo.add_argument("--no-simulator", action="store_true")
    demo.add_argument("--keep", action="store_true", help=_h("keep"))

    reg = sub.add_parser("registry", help=_h("registry"))
    rsub = reg.add_subparsers(dest="registry_command", required=True)
    r_imp = rsub.add_parser("import", help=_h("registry_import"))
    r_imp.add_argument("folder")
    r_imp.set_defaults(func=cmd_registry_import)
    r_exp = rsub.add_parser("export", help=_h("registry_export"))
    r_exp.add_argument("folder")
    r_exp.set_defaults(func=cmd_registry_export)
    r_smp = rsub.add_parser("sample", help=_h("registry_sample"))
    r_smp.add_argument("folder", help=_h("sample_folder"))
    r_smp.add_argument("--seed", type=int, default=1, help=_h("sample_seed"))
    r_smp.add_argument(
        "--size",
        choices=["street", "district", "city"],
        default="street",
        help=_h("sample_size"),
    )
    r_smp.set_defaults(func=cmd_registry_sample)

    from ingest.refusals import DEADLETTER_REASONS  # a leaf module: an enum and a tuple

    dl = add("deadletters", cmd_deadletters, _h("deadletters"))
    dl.add_argument("--limit", type=int, default=50)
    dl.add_argument(
        "--reason",
        choices=DEADLETTER_REASONS,
        metavar="REASON",
        help=_h("deadletter_reason", reasons=", ".join(DEADLETTER_REASONS)),
    )

    acc = sub.add_parser("accounts", help=_h("accounts"))
    asub = acc.add_subparsers(dest="accounts_command", required=True)
    a_add = asub.add_parser("add", help=_h("accounts_add"))
    a_add.add_argument("username")
    a_add.add_argument("--person", help=_h("accounts_person"))
    a_add.add_argument("--role", help=_h("accounts_role"))
    a_add.add_argument("--scope", help=_h("accounts_scope"))
    a_add.add_argument("--name", help=_h("accounts_name"))
    a_add.set_defaults(func=cmd_accounts_add)
    a_list = asub.add_parser("list", help=_h("accounts_list"))
    a_list.set_defaults(func=cmd_accounts_list)
    a_dis = asub.add_parser("disable", help=_h("accounts_disable"))
    a_dis.add_argument("username")
    a_dis.set_defaults(func=cmd_accounts_disable)
    a_pw = asub.add_parser("reset-password", help=_h("accounts_reset"))
    a_pw.add_argument("username")
    a_pw.set_defaults(func=cmd_accounts_reset_password)

    aud = add("audit", cmd_audit, _h("audit"))
    aud.add_argument("--limit", type=int, default=50)
    aud.add_argument("--action", help=_h("audit_action"))
    aud.add_argument("--actor", help=_h("audit_actor"))
    aud.add_argument("--before", type=int, help=_h("audit_before"))

    brk = sub.add_parser("broker", help=_h("broker"))
    bsub = brk.add_subparsers(dest="broker_command", required=True)
    b_cred = bsub.add_parser(
        "credentials",
        help=_h("broker_credentials"),
    )
    b_cred.add_argument("folder", help=_h("broker_folder"))
    b_cred.add_argument("--rotate", action="append", default=[], metavar="ID", help=_h("broker_rotate"))
    b_cred.add_argument("--gateways", action="store_true", help=_h("broker_gateways"))
    b_cred.set_defaults(func=cmd_broker_credentials)

    sch = add("schemas", cmd_schemas, _h("schemas"))
    sch.add_argument("folder", nargs="?", default="docs/schemas")

    db = sub.add_parser("db", help=_h("db"))
    dsub = db.add_subparsers(dest="db_command", required=True)
    d_up = dsub.add_parser("upgrade", help=_h("db_upgrade"))
    d_up.set_defaults(func=cmd_db_upgrade)
    d_cur = dsub.add_parser("current", help=_h("db_current"))
    d_cur.set_defaults(func=cmd_db_current)
    d_rev = dsub.add_parser("revision", help=_h("db_revision"))
    d_rev.add_argument("-m", "--message", required=True, help=_h("db_message"))
    d_rev.add_argument("--empty", action="store_true", help=_h("db_empty"))
    d_rev.set_defaults(func=cmd_db_revision)

    rules = sub.add_parser("rules", help=_h("rules"))
    rusub = rules.add_subparsers(dest="rules_command", required=True)
    r_chk = rusub.add_parser("check", help=_h("rules_check"))
    r_chk.add_argument("file", nargs="?")
    r_chk.set_defaults(func=cmd_rules_check)

    ros = add("roster", cmd_roster, _h("roster"))
    ros.add_argument("--microgrid", help=_h("roster_microgrid"))
    ros.add_argument("--at", help=_h("roster_at"))

    pol = sub.add_parser("policies", help=_h("policies"))
    posub = pol.add_subparsers(dest="policies_command", required=True)
    p_chk = posub.add_parser("check", help=_h("policies_check"))
    p_chk.add_argument("file", nargs="?")
    p_chk.set_defaults(func=cmd_policies_check)

    cfg = sub.add_parser("config", help=_h("config"))
    csub = cfg.add_subparsers(dest="config_command", required=True)
    c_chk = csub.add_parser("check", help=_h("config_check"))
    c_chk.set_defaults(func=cmd_config_check)

    sim = add("simulate", cmd_simulate, _h("simulate"))
    try:
        from simulator.cli import add_arguments
    except ImportError:  # simulator not importable: keep the rest of the CLI usable
        pass
    else:
        add_arguments(sim)
    _config_option_everywhere(p)
    return p


def _config_option_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--config/-c` after any subcommand as well (`cwatch serve -c cwatch.toml`, as the docs write it), not only
    before it. Below the top level it has no default, so an absent one leaves the top level's value alone."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                if "--config" not in sub._option_string_actions:
                    sub.add_argument("--config", "-c", default=argparse.SUPPRESS, help=_h("config_file"))
                _config_option_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    with argparse_in(env_lang()):  # "usage:", "options" and argparse's errors in the CLI's language too
        parser = build_parser()
        args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except CwatchError as e:
        # Every package's errors carry a clear message (file, line, key); show it without a traceback.
        message = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        print(text("cli.error", message=localized(message, env_lang())), file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        extra = _EXTRAS.get((e.name or "").partition(".")[0])
        if extra is None:
            raise
        print(text("cli.needs_extra", command=args.command, module=e.name, extra=extra), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


# top-level modules of optional dependencies -> the extra that installs them (pyproject.toml)
_EXTRAS = {"paho": "simulator"}


if __name__ == "__main__":
    sys.exit(main())
