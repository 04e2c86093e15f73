"""The `cwatch` command as an operator uses it: registry import/export/sample, accounts, dead letters, checks."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cwatch.cli import build_parser, main
from cwatch.settings import load_settings
from cwatch.store import open_store
from devices.csvio import load_registry
from devices.store import load_registry_db
from ingest.refusals import DEADLETTER_REASONS


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    monkeypatch.setenv("CWATCH_CONFIG", str(cfg))
    return cfg


def stored_registry(config: Path):  # type: ignore[no-untyped-def]
    async def load():  # type: ignore[no-untyped-def]
        async with open_store(load_settings(config)) as engine:
            return await load_registry_db(engine)

    return asyncio.run(load())


def test_sample_import_export_round_trip(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "sample", str(tmp_path / "street"), "--seed", "3"]) == 0
    assert main(["registry", "import", str(tmp_path / "street")]) == 0
    assert main(["registry", "export", str(tmp_path / "out")]) == 0
    assert load_registry(tmp_path / "out") == load_registry(tmp_path / "street")
    assert "imported" in capsys.readouterr().out


def _rewrite(path: Path, edit: dict[tuple[int, str], str]) -> None:
    """Change cells of a CSV file: {(row index from 0 after the header, column): value}."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
        fields = list(rows[0].keys())
    for (i, col), value in edit.items():
        rows[i][col] = value
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_registry_with_three_errors_is_refused_and_the_stored_one_is_unchanged(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert main(["registry", "sample", str(good), "--seed", "1"]) == 0
    assert main(["registry", "import", str(good)]) == 0
    before = stored_registry(config)
    assert main(["registry", "sample", str(bad), "--seed", "1"]) == 0
    # Three problems in two files: a device class that does not exist, a dangling building reference, and a
    # negative report interval.
    _rewrite(bad / "devices.csv", {(0, "device_class"): "toaster", (1, "building_id"): "no-such-building"})
    _rewrite(bad / "devices.csv", {(2, "expected_interval_s"): "-5"})
    capsys.readouterr()

    assert main(["registry", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "devices.csv:2: device_class:" in err
    assert "devices.csv:3: building_id:" in err
    assert "devices.csv:4: expected_interval_s:" in err
    assert stored_registry(config) == before


def test_bad_config_stops_naming_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[http]\nprot = 8080\n", encoding="utf-8")
    assert main(["--config", str(cfg), "config", "check"]) == 2
    assert f"{cfg}:2: http.prot: unknown key" in capsys.readouterr().err


def test_accounts_need_a_real_scope_and_role(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    assert main(["registry", "import", str(tmp_path / "s")]) == 0
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "a long enough password")
    assert main(["accounts", "add", "li", "--role", "grid_worker", "--scope", "nowhere"]) == 2
    assert "scope 'nowhere'" in capsys.readouterr().err
    assert main(["accounts", "add", "li", "--role", "janitor", "--scope", "xf"]) == 2
    assert "role 'janitor'" in capsys.readouterr().err
    assert main(["accounts", "add", "li", "--role", "street_duty", "--scope", "xf"]) == 0
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "short")
    assert main(["accounts", "add", "wang", "--role", "street_duty", "--scope", "xf"]) == 2


def test_deadletters_lists_json_lines(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.deadletter import DeadLetters
    from ingest.refusals import RefusalReason

    async def add() -> None:
        async with open_store(load_settings(config)) as engine:
            await DeadLetters(engine).add("cw/c/d/event", b"{not json", RefusalReason.MALFORMED_JSON, "bad", 1.0)

    asyncio.run(add())
    assert main(["deadletters", "--reason", "malformed_json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["reason"] == "malformed_json"
    assert rows[0]["payload"] == "{not json"


def test_rules_check_accepts_the_shipped_rules(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    assert "valid" in capsys.readouterr().out


def test_rules_check_names_the_line_of_a_bad_rule(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - id: x\n    kind: event\n    severity: loud\n", encoding="utf-8")
    assert main(["rules", "check", str(bad)]) == 2
    assert "rules.yaml:2: rules[0]" in capsys.readouterr().err


def test_audit_lists_who_changed_the_registry_and_the_accounts(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["registry", "sample", str(tmp_path / "street")]) == 0
    assert main(["registry", "import", str(tmp_path / "street")]) == 0
    reg = load_registry(tmp_path / "street")
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "a-long-enough-password")
    street = next(iter(reg.streets))
    assert main(["accounts", "add", "ops1", "--role", "operator", "--scope", street]) == 0
    capsys.readouterr()
    assert main(["audit"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["actor"].startswith("cli:") for r in listed)
    # the sample street holds a few households away for some days: the import names each, with its reason
    aways = [r for r in listed if r["action"] == "registry.away"]
    held = {h.id: h.care.away_reason for h in reg.households.values() if h.care.away_until is not None}
    assert held
    assert {r["target"]: r["details"]["reason"] for r in aways} == held
    rows = [r for r in listed if r["action"] != "registry.away"]
    assert [(r["action"], r["source"]) for r in rows] == [("account.create", "cli"), ("registry.import", "cli")]
    assert rows[0]["target"] == "ops1"
    assert rows[1]["details"]["devices"] == len(reg.devices)
    assert main(["audit", "--action", "registry.import"]) == 0
    assert [json.loads(x)["action"] for x in capsys.readouterr().out.splitlines()] == ["registry.import"]


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_subcommand_takes_the_config_option_after_it() -> None:
    missing = [" ".join(path) for path, p in _parsers(build_parser()) if "--config" not in p._option_string_actions]
    assert missing == []


_COMMAND = re.compile(r"(?:^|`)(cwatch [^`#\n]*?(?:-c|--config) [^`#\n]*?)\s*(?:`|#|$)", re.M)


def test_the_command_lines_the_docs_show_with_a_config_file_parse() -> None:
    root = Path(__file__).resolve().parents[2]
    texts = [root / "README.md", root / "deploy" / "cwatch.service", *sorted((root / "docs").glob("*.md"))]
    lines = [m.group(1) for path in texts for m in _COMMAND.finditer(path.read_text(encoding="utf-8"))]
    assert any(line.startswith("cwatch serve -c") for line in lines), lines
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.config is not None, line


def test_config_after_the_subcommand_is_the_file_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CWATCH_CONFIG", raising=False)
    cfg = tmp_path / "after.toml"
    cfg.write_text('data_dir = "/srv/after"\n', encoding="utf-8")
    assert main(["config", "check", "-c", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == "/srv/after"
    assert main(["--config", str(tmp_path / "missing.toml"), "config", "check"]) == 2  # before it, as ever
    assert "missing.toml: no such file" in capsys.readouterr().err


def test_deadletters_refuses_an_unknown_reason_naming_the_valid_ones(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["deadletters", "--reason", "bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err
    assert all(reason in err for reason in DEADLETTER_REASONS)


def test_accounts_linked_to_a_person_listed_disabled_and_reset(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devices.model import Role
    from devices.sample import sample_street

    assert main(["registry", "sample", str(tmp_path / "s")]) == 0
    assert main(["registry", "import", str(tmp_path / "s")]) == 0
    reg = sample_street(1)
    mg = next(iter(reg.microgrids))
    worker = reg.people_at(mg, Role.GRID_WORKER)[0]
    community = next(iter(reg.communities))
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "eleven-char")  # one short of the rule
    assert main(["accounts", "add", "wf", "--person", worker.id]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "twelve-chars")
    # role and scope come from the person; the account is theirs
    assert main(["accounts", "add", "wf", "--person", worker.id]) == 0
    assert f"linked to person {worker.id}" in capsys.readouterr().out
    # a scope at a level the role does not answer for, and a person that does not exist
    assert main(["accounts", "add", "ml", "--role", "microgrid_leader", "--scope", community]) == 2
    assert "a micro-grid leader answers for a micro-grid" in capsys.readouterr().err
    assert main(["accounts", "add", "gw", "--role", "grid_worker", "--scope", "xf"]) == 2
    assert "is a street" in capsys.readouterr().err
    assert main(["accounts", "add", "ghost", "--person", "p-nobody"]) == 2
    assert "not in the registry" in capsys.readouterr().err
    assert main(["accounts", "add", "wrong", "--person", worker.id, "--role", "street_duty"]) == 2
    assert f"person {worker.id} is a grid worker" in capsys.readouterr().err

    assert main(["accounts", "list"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["username"], row["person_id"], row["role"], row["scope_id"]) == ("wf", worker.id, "grid_worker", mg)
    monkeypatch.setenv("CWATCH_NEW_PASSWORD", "another-long-one")
    assert main(["accounts", "reset-password", "wf"]) == 0
    assert main(["accounts", "disable", "wf"]) == 0
    assert main(["accounts", "disable", "nobody"]) == 2
    capsys.readouterr()
    assert main(["accounts", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["disabled"] is True
    assert main(["audit", "--action", "account."]) == 0
    actions = [json.loads(line)["action"] for line in capsys.readouterr().out.splitlines()]
    assert actions == ["account.disable", "account.password", "account.create"]


def test_policies_check_accepts_the_shipped_policies(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "check"]) == 0
    assert "valid" in capsys.readouterr().out


def test_policies_check_prints_every_problem_with_file_line_and_key(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policies.yaml"
    bad.write_text(
        "policies:\n"
        "  - name: first\n"
        "    match:\n"
        "      rules: [smoke_alarm, smoke_alarn]\n"
        "    steps:\n"
        "      - targets: [boss]\n"
        "  - name: last\n"
        "    steps:\n"
        "      - targets: [worker_on_duty]\n"
        "        wait: soon\n",
        encoding="utf-8",
    )
    assert main(["policies", "check", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "policies.yaml:6: policies[0].steps[0].targets[0]: 'boss' is not known: Input should be 'worker_on_duty', "
        "'microgrid_leader', 'grid', 'family', 'community_duty' or 'street_duty'",
        "policies.yaml:10: policies[1].steps[0].wait: bad duration 'soon'",
    ]
    bad.write_text(bad.read_text(encoding="utf-8").replace("boss", "grid").replace("soon", "5m"), encoding="utf-8")
    assert main(["policies", "check", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "policies.yaml:4: policies[0].match.rules[1]: no rule 'smoke_alarn' in the rule set"
    ]


def test_db_current_and_upgrade(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`db current` says whether start-up would migrate (exit 1) or not (0); `db upgrade` migrates."""
    from cwatch.schema import head

    assert main(["db", "current"]) == 1
    assert f"this cwatch migrates it to {head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"at revision {head()}, the newest" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert f"at revision {head()}, the newest" in capsys.readouterr().out


def test_db_current_names_a_newer_database(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    assert main(["db", "upgrade"]) == 0
    with sqlite3.connect(load_settings(config).data_path / "cwatch.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    capsys.readouterr()
    assert main(["db", "current"]) == 2
    assert "at revision 9999, written by a newer cwatch" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 2
    assert "newer cwatch (schema revision 9999" in capsys.readouterr().err


def test_roster_shows_who_is_on_duty_now_and_next_with_covers(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from devices.csvio import save_registry
    from devices.model import DutyShift
    from tests.devices.factory import T0, tiny

    monkeypatch.setenv("CWATCH_LANG", "en")
    reg = tiny()
    cover = DutyShift("p-w2", "m1", T0 + timedelta(hours=2), T0 + timedelta(hours=6), replaces="p-w1")
    save_registry(reg.with_changes(roster=[*reg.roster, cover]), tmp_path / "reg")
    assert main(["registry", "import", str(tmp_path / "reg")]) == 0
    capsys.readouterr()
    assert main(["roster", "--microgrid", "m1", "--at", "2026-03-01T09:00+08:00"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "m1 桂花苑微网格",
        "  now   周杰 (p-w1, grid worker) until 03-01 20:00",
        "  now   孙磊 (p-l1, micro-grid leader) until 03-01 20:00",
        "  next  吴静 (p-w2, grid worker) from 03-01 10:00 to 03-01 14:00, covering for 周杰",
    ]
    assert main(["roster", "--microgrid", "m2"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  now   nobody on duty: new tickets go to the micro-grid leader",
        "  next  no later shift in the roster",
    ]
    assert main(["roster", "--microgrid", "m9"]) == 2
    assert "no micro-grid 'm9'" in capsys.readouterr().err
    assert main(["roster", "--at", "2026-03-01T09:00"]) == 2
    assert "UTC offset" in capsys.readouterr().err
