"""The registry as a folder of UTF-8 CSV files: the form community staff keep in spreadsheets.

Loading is all-or-nothing: every problem in every file (unknown or missing column, bad value, duplicate id,
dangling reference ...) is collected with its file, line and column, and `RegistryError` lists them all, so a
clerk fixes the spreadsheet in one round and a half-imported registry never exists. Files written by
`save_registry` carry a UTF-8 BOM so Excel shows Chinese names correctly; `load_registry` accepts files with or
without it. Column reference: docs/registry.md.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from devices.errors import DevicesError, Problem, RegistryError
from devices.integrity import Collections, check
from devices.model import (
    Building,
    CareProfile,
    Community,
    Contact,
    Device,
    DeviceClass,
    DutyShift,
    Grid,
    Household,
    MicroGrid,
    Person,
    QuietHours,
    Role,
    Street,
)
from devices.registry import Registry
from devices.topics import ID_PATTERN

__all__ = ["COLUMNS", "FILES", "check_folder", "load_registry", "save_registry"]

# file stem -> (required columns, optional columns), in the order `save_registry` writes them
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "streets": (("id", "name"), ()),
    "communities": (("id", "name", "street_id"), ()),
    "grids": (("id", "name", "community_id"), ()),
    "microgrids": (("id", "name", "grid_id"), ()),
    "buildings": (("id", "name", "microgrid_id"), ("floors",)),
    "households": (
        ("id", "building_id", "unit"),
        ("floor", "lives_alone", "elderly", "consent", "emergency_contacts", "quiet_hours", "away_until"),
    ),
    "people": (("id", "name", "role", "scope_id"), ("phone",)),
    "roster": (("person_id", "microgrid_id", "start", "end"), ()),
    "devices": (
        ("id", "device_class", "building_id"),
        ("household_id", "expected_interval_s", "installed", "label"),
    ),
}
FILES = tuple(f"{stem}.csv" for stem in COLUMNS)

_TRUE = {"yes", "y", "true", "t", "1", "是"}
_FALSE = {"no", "n", "false", "f", "0", "否", ""}
_ID = re.compile(ID_PATTERN)
_SCIENTIFIC = re.compile(r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+")  # 1.38E+10: a phone number Excel "helped" with
_HHMM = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_E = TypeVar("_E", bound=StrEnum)


class _CellError(Exception):
    """A cell could not be read; the message names what was expected."""


@dataclass
class _Row:
    """One CSV record with its location; accessors record a `Problem` instead of raising, so every bad cell of
    every row is reported."""

    file: str
    line: int
    cells: dict[str, str]
    problems: list[Problem]
    absent: frozenset[str] = frozenset()  # required columns missing from the header: reported once, there
    ok: bool = True

    def _read(self, column: str, parse: Callable[[str], Any], default: Any, required: bool) -> Any:
        if column in self.absent:
            self.ok = False
            return default
        raw = self.cells.get(column, "").strip()
        if raw == "":
            if required:
                self.ok = False
                self.problems.append(Problem(self.file, self.line, column, "a value is required"))
            return default
        try:
            return parse(raw)
        except (_CellError, ValueError) as e:
            self.ok = False
            self.problems.append(Problem(self.file, self.line, column, f"{raw!r}: {e}"))
            return default

    def text(self, column: str, *, required: bool = True) -> str:
        value: str = self._read(column, str, "", required)
        return value

    def ident(self) -> str:
        """The row's `id`, checked here too so a row that cannot be built still has its id problem reported."""
        value: str = self._read("id", _ident, "", True)
        return value

    def integer(self, column: str, default: int) -> int:
        value: int = self._read(column, _int, default, False)
        return value

    def flag(self, column: str) -> bool:
        value: bool = self._read(column, _bool, False, False)
        return value

    def enum(self, column: str, kind: type[_E]) -> _E | None:
        value: _E | None = self._read(column, lambda s: _enum(s, kind), None, True)
        return value

    def get(self, column: str, parse: Callable[[str], Any], *, required: bool = False) -> Any:
        return self._read(column, parse, None, required)


def _ident(s: str) -> str:
    if not _ID.fullmatch(s):
        raise _CellError("not a valid id (letters, digits, _ . -; at most 64; no spaces)")
    return s


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise _CellError("expected a whole number") from None


def _bool(s: str) -> bool:
    v = s.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise _CellError("expected yes/no, true/false or 1/0")


def _enum(s: str, kind: type[_E]) -> _E:
    try:
        return kind(s)
    except ValueError:
        raise _CellError(f"expected one of {', '.join(k.value for k in kind)}") from None


def _aware(s: str) -> datetime:
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise _CellError("expected an ISO 8601 date and time such as 2026-03-01T08:00:00+08:00") from None
    if d.tzinfo is None:
        raise _CellError("the time needs a UTC offset, e.g. 2026-03-01T08:00:00+08:00")
    return d


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise _CellError("expected a date such as 2024-05-31") from None


def _time(s: str) -> time:
    m = _HHMM.fullmatch(s.strip())
    if not m:
        raise _CellError("expected HH:MM")
    try:
        return time(int(m[1]), int(m[2]), int(m[3] or 0))
    except ValueError:
        raise _CellError("expected HH:MM with hours 0-23 and minutes 0-59") from None


def _quiet(s: str) -> QuietHours:
    start, sep, end = s.partition("-")
    if not sep:
        raise _CellError("expected HH:MM-HH:MM, e.g. 22:00-06:00")
    q = QuietHours(_time(start), _time(end))
    if q.start == q.end:
        raise _CellError("quiet hours start and end at the same time")
    return q


def _phone(s: str) -> str:
    if _SCIENTIFIC.fullmatch(s):
        raise _CellError("Excel turned the number into scientific notation; format the column as text and retype it")
    return s


def _contacts(s: str) -> tuple[Contact, ...]:
    out = []
    for part in s.split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split("|")]
        if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
            raise _CellError("expected name|phone|relation;name|phone|relation (relation optional)")
        out.append(Contact(fields[0], _phone(fields[1]), fields[2] if len(fields) == 3 else ""))
    return tuple(out)


# --- reading -------------------------------------------------------------------------------------------------


@dataclass
class _File:
    rows: list[_Row]
    absent: frozenset[str]  # required columns missing from the header


def _records(path: Path, problems: list[Problem]) -> _File | None:
    """The data rows of one file with the line each starts on, or None when the file cannot be read at all
    (encoding, CSV structure, no header). Header problems (unknown, repeated or missing columns) are recorded
    and the rows are still read, so their own problems are reported in the same round."""
    stem = path.stem
    required, optional = COLUMNS[stem]
    try:
        raw = path.read_bytes()
    except OSError as e:
        problems.append(Problem(path.name, 0, "", f"cannot read: {e.strerror}"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        problems.append(Problem(path.name, line, "", 'not UTF-8 (GBK?): save the sheet as "CSV UTF-8"'))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as e:
        problems.append(Problem(path.name, 1, "", f"not CSV: {e}"))
        return None
    if header is None:
        problems.append(Problem(path.name, 1, "", "empty file: the header row is missing"))
        return None
    names = [h.strip() for h in header]
    known = set(required) | set(optional)
    seen: set[str] = set()
    ignored: set[int] = set()
    for i, name in enumerate(names):
        if name == "":
            ignored.add(i)  # trailing empty columns from spreadsheets; checked per row below
        elif name not in known:
            ignored.add(i)
            problems.append(Problem(path.name, 1, name, f"unknown column (expected {', '.join(required + optional)})"))
        elif name in seen:
            ignored.add(i)
            problems.append(Problem(path.name, 1, name, "column appears twice (the first one is read)"))
        seen.add(name)
    absent = frozenset(name for name in required if name not in seen)
    for name in sorted(absent, key=required.index):
        problems.append(Problem(path.name, 1, name, "required column is missing"))
    blank = {i for i in ignored if names[i] == ""}
    out: list[_Row] = []
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return _File(out, absent)
        except csv.Error as e:
            problems.append(Problem(path.name, line, "", f"not CSV: {e}"))
            return None
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
            problems.append(Problem(path.name, start, "", f"{len(cells)} cells but only {len(names)} columns"))
            continue
        row = {names[i]: c for i, c in enumerate(cells[: len(names)]) if i not in ignored}
        if any(cells[i].strip() for i in blank if i < len(cells)):
            problems.append(Problem(path.name, start, "", "a value stands in a column without a header"))
            continue
        out.append(_Row(path.name, start, row, problems, absent))


@dataclass
class _Loaded:
    items: list[Any]
    lines: list[int]


def _street(r: _Row) -> Street:
    return Street(r.ident(), r.text("name"))


def _community(r: _Row) -> Community:
    return Community(r.ident(), r.text("name"), r.text("street_id"))


def _grid(r: _Row) -> Grid:
    return Grid(r.ident(), r.text("name"), r.text("community_id"))


def _microgrid(r: _Row) -> MicroGrid:
    return MicroGrid(r.ident(), r.text("name"), r.text("grid_id"))


def _building(r: _Row) -> Building:
    return Building(r.ident(), r.text("name"), r.text("microgrid_id"), r.integer("floors", 1))


def _household(r: _Row) -> Household:
    care = CareProfile(
        lives_alone=r.flag("lives_alone"),
        elderly=r.flag("elderly"),
        consent=r.flag("consent"),
        emergency_contacts=r.get("emergency_contacts", _contacts) or (),
        quiet_hours=r.get("quiet_hours", _quiet),
        away_until=r.get("away_until", _aware),
    )
    return Household(r.ident(), r.text("building_id"), r.text("unit"), r.integer("floor", 1), care)


def _person(r: _Row) -> Person:
    role = r.enum("role", Role)
    return Person(r.ident(), r.text("name"), role or Role.OPERATOR, r.text("scope_id"), r.get("phone", _phone) or "")


def _shift(r: _Row) -> DutyShift:
    return DutyShift(
        r.text("person_id"),
        r.text("microgrid_id"),
        r.get("start", _aware, required=True),
        r.get("end", _aware, required=True),
    )


def _device(r: _Row) -> Device:
    cls = r.enum("device_class", DeviceClass)
    return Device(
        r.ident(),
        cls or DeviceClass.SMOKE_DETECTOR,
        r.text("building_id"),
        r.text("household_id", required=False) or None,
        r.integer("expected_interval_s", 86_400),
        r.get("installed", _date),
        r.text("label", required=False),
    )


# column of a reference -> the collections it may point into
_NODES = frozenset({"streets", "communities", "grids", "microgrids", "buildings", "households"})
_REFERENCES: dict[str, frozenset[str]] = {
    "street_id": frozenset({"streets"}),
    "community_id": frozenset({"communities"}),
    "grid_id": frozenset({"grids"}),
    "microgrid_id": frozenset({"microgrids"}),
    "building_id": frozenset({"buildings"}),
    "household_id": frozenset({"households"}),
    "floor": frozenset({"buildings"}),
    "person_id": frozenset({"people"}),
    "scope_id": _NODES,
}

_READERS: dict[str, Callable[[_Row], Any]] = {
    "streets": _street,
    "communities": _community,
    "grids": _grid,
    "microgrids": _microgrid,
    "buildings": _building,
    "households": _household,
    "people": _person,
    "roster": _shift,
    "devices": _device,
}


def load_registry(folder: str | Path) -> Registry:
    """Read the CSV files of `folder` into a `Registry`. Files that are absent count as empty. Raises
    `RegistryError` listing every problem of every file; nothing is imported then."""
    root = Path(folder)
    if not root.is_dir():
        raise RegistryError([Problem(str(root), 0, "", "folder does not exist")])
    problems: list[Problem] = []
    for extra in sorted(p.name for p in root.glob("*.csv") if p.name not in FILES):
        problems.append(Problem(extra, 0, "", f"not a registry file (expected {', '.join(FILES)})"))
    loaded: dict[str, _Loaded] = {}
    unreadable: set[str] = set()
    refused_ids: set[str] = set()
    for stem, read in _READERS.items():
        got = _Loaded([], [])
        loaded[stem] = got
        path = root / f"{stem}.csv"
        if not path.exists():
            continue
        file = _records(path, problems)
        if file is None or file.absent:
            unreadable.add(stem)  # no row can be built: references into this file are not checked
        for row in file.rows if file is not None else ():
            item = read(row)
            if row.ok:
                got.items.append(item)
                got.lines.append(row.line)
            elif stem != "roster":
                refused_ids.add(row.cells.get("id", "").strip())

    def locate(collection: str, index: int) -> tuple[str, int]:
        return f"{collection}.csv", loaded[collection].lines[index]

    c = Collections(**{stem: tuple(got.items) for stem, got in loaded.items()})
    for p in check(c, locate, unchecked=frozenset(refused_ids)):
        # a reference into a file whose rows could not be built was already reported as that file's problem
        target = _REFERENCES.get(p.column)
        if target is None or not (target & unreadable):
            problems.append(p)
    if problems:
        raise RegistryError(problems)
    return Registry(**{stem: got.items for stem, got in loaded.items()}, locate=locate)


def check_folder(folder: str | Path) -> list[Problem]:
    """Every problem `load_registry` would report for `folder`; empty when it would load. For a "check the
    spreadsheet before importing it" command."""
    try:
        load_registry(folder)
    except RegistryError as e:
        return e.problems
    return []


# --- writing -------------------------------------------------------------------------------------------------


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _contact_cell(contacts: tuple[Contact, ...]) -> str:
    for c in contacts:
        if any(ch in f for f in (c.name, c.phone, c.relation) for ch in "|;"):
            raise DevicesError(f"contact {c.name!r} contains '|' or ';', which the CSV form cannot hold")
    return ";".join(f"{c.name}|{c.phone}|{c.relation}" if c.relation else f"{c.name}|{c.phone}" for c in contacts)


def _rows(stem: str, reg: Registry) -> Iterator[list[str]]:
    c = reg.collections()
    if stem == "streets":
        yield from ([s.id, s.name] for s in c.streets)
    elif stem == "communities":
        yield from ([x.id, x.name, x.street_id] for x in c.communities)
    elif stem == "grids":
        yield from ([x.id, x.name, x.community_id] for x in c.grids)
    elif stem == "microgrids":
        yield from ([x.id, x.name, x.grid_id] for x in c.microgrids)
    elif stem == "buildings":
        yield from ([b.id, b.name, b.microgrid_id, str(b.floors)] for b in c.buildings)
    elif stem == "households":
        for h in c.households:
            k = h.care
            yield [
                h.id,
                h.building_id,
                h.unit,
                str(h.floor),
                _yes(k.lives_alone),
                _yes(k.elderly),
                _yes(k.consent),
                _contact_cell(k.emergency_contacts),
                f"{_hhmm(k.quiet_hours.start)}-{_hhmm(k.quiet_hours.end)}" if k.quiet_hours else "",
                k.away_until.isoformat() if k.away_until else "",
            ]
    elif stem == "people":
        yield from ([p.id, p.name, p.role.value, p.scope_id, p.phone] for p in c.people)
    elif stem == "roster":
        yield from ([s.person_id, s.microgrid_id, s.start.isoformat(), s.end.isoformat()] for s in c.roster)
    elif stem == "devices":
        for d in c.devices:
            yield [
                d.id,
                d.device_class.value,
                d.building_id,
                d.household_id or "",
                str(d.expected_interval_s),
                d.installed.isoformat() if d.installed else "",
                d.label,
            ]


def save_registry(reg: Registry, folder: str | Path) -> list[Path]:
    """Write every CSV file of `reg` into `folder` (created if missing). Each file is written to a temporary
    name and renamed, so a reader never sees a half-written file. Returns the paths written."""
    root = Path(folder)
    written = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stem, (required, optional) in COLUMNS.items():
            buf = io.StringIO(newline="")
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow([*required, *optional])
            w.writerows(_rows(stem, reg))
            path = root / f"{stem}.csv"
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_bytes(buf.getvalue().encode("utf-8-sig"))
            os.replace(tmp, path)
            written.append(path)
    except OSError as e:
        raise DevicesError(f"cannot write the registry to {root}: {e}") from e
    return written
