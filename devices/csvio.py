"""The registry as a folder of UTF-8 CSV files: the form community staff keep in spreadsheets.

Loading is all-or-nothing: every problem in every file (unknown or missing column, bad value, duplicate id,
dangling reference ...) is collected with its file, line and column, and `RegistryError` lists them all, so a
clerk fixes the spreadsheet in one round and a half-imported registry never exists. Files written by
`save_registry` carry a UTF-8 BOM so Excel shows Chinese names correctly; `load_registry` accepts files with or
without it. Column reference: docs/registry.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.i18n import tr
from core.progress import Progress, silent
from devices.errors import DevicesError, Problem, RegistryError
from devices.fields import ENTITIES, Entity, Field
from devices.integrity import AwayBound, Collections, check, check_away
from devices.kinds import CellError
from devices.registry import Registry

__all__ = ["COLUMNS", "FILES", "AwayBound", "check_folder", "load_registry", "save_registry"]

# file stem -> (required columns, optional columns), from the declarations in `devices.fields`
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    e.name: (tuple(f.column for f in e.fields if f.required), tuple(f.column for f in e.fields if not f.required))
    for e in ENTITIES
}
FILES = tuple(e.file for e in ENTITIES)


@dataclass
class _Row:
    """One CSV record with its location; reading a cell records a `Problem` instead of raising, so every bad
    cell of every row is reported."""

    file: str
    line: int
    cells: dict[str, str]
    problems: list[Problem]
    absent: frozenset[str] = frozenset()  # required columns missing from the header: reported once, there
    ok: bool = True

    def value(self, f: Field) -> Any:
        """The value of field `f`: its default when the cell is empty or the column absent."""
        if f.column in self.absent:
            self.ok = False
            return f.default
        raw = self.cells.get(f.column, "").strip()
        if raw == "":
            if f.required:
                self.ok = False
                self.problems.append(Problem(self.file, self.line, f.column, tr("registry.cell.required")))
            return f.default
        try:
            return f.kind.parse(raw)
        except CellError as e:
            self.ok = False
            self.problems.append(
                Problem(self.file, self.line, f.column, tr("registry.cell.value", value=repr(raw), reason=e.reason))
            )
            return f.default

    def item(self, entity: Entity[Any]) -> Any:
        """The row's item, or None when a cell was refused (every refused cell is recorded)."""
        values = [self.value(f) for f in entity.fields]
        return entity.build(values) if self.ok else None


# --- reading -------------------------------------------------------------------------------------------------


@dataclass
class _File:
    rows: list[_Row]
    absent: frozenset[str]  # required columns missing from the header


def _records(path: Path, entity: Entity[Any], problems: list[Problem]) -> _File | None:
    """The data rows of one file with the line each starts on, or None when the file cannot be read at all
    (encoding, CSV structure, no header). Header problems (unknown, repeated or missing columns) are recorded
    and the rows are still read, so their own problems are reported in the same round."""
    required = [f.column for f in entity.fields if f.required]
    try:
        raw = path.read_bytes()
    except OSError as e:
        problems.append(Problem(path.name, 0, "", tr("registry.file.cannot_read", reason=e.strerror)))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        problems.append(Problem(path.name, line, "", tr("registry.file.not_utf8")))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as e:
        problems.append(Problem(path.name, 1, "", tr("registry.file.not_csv", reason=e)))
        return None
    if header is None:
        problems.append(Problem(path.name, 1, "", tr("registry.file.empty")))
        return None
    names = [h.strip() for h in header]
    known = set(entity.columns)
    seen: set[str] = set()
    ignored: set[int] = set()
    for i, name in enumerate(names):
        if name == "":
            ignored.add(i)  # trailing empty columns from spreadsheets; checked per row below
        elif name not in known:
            ignored.add(i)
            problems.append(
                Problem(path.name, 1, name, tr("registry.file.unknown_column", columns=", ".join(entity.columns)))
            )
        elif name in seen:
            ignored.add(i)
            problems.append(Problem(path.name, 1, name, tr("registry.file.column_twice")))
        seen.add(name)
    absent = frozenset(name for name in required if name not in seen)
    for name in sorted(absent, key=required.index):
        problems.append(Problem(path.name, 1, name, tr("registry.file.column_missing")))
    blank = {i for i in ignored if names[i] == ""}
    out: list[_Row] = []
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return _File(out, absent)
        except csv.Error as e:
            problems.append(Problem(path.name, line, "", tr("registry.file.not_csv", reason=e)))
            return None
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
            problems.append(
                Problem(path.name, start, "", tr("registry.file.too_many_cells", cells=len(cells), columns=len(names)))
            )
            continue
        row = {names[i]: c for i, c in enumerate(cells[: len(names)]) if i not in ignored}
        if any(cells[i].strip() for i in blank if i < len(cells)):
            problems.append(Problem(path.name, start, "", tr("registry.file.headerless_value")))
            continue
        out.append(_Row(path.name, start, row, problems, absent))


def _data_lines(path: Path) -> int:
    """Lines after the header (an estimate of the rows, for progress only: quoted newlines count twice)."""
    try:
        with path.open("rb") as f:
            return max(0, sum(1 for _ in f) - 1)
    except OSError:
        return 0


@dataclass
class _Loaded:
    items: list[Any]
    lines: list[int]


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


#: Rows between two progress reports (a report costs a call; a city has a million rows).
_REPORT_EVERY = 5_000


def folder_digest(folder: str | Path) -> str:
    """SHA-256 of the registry files of `folder` (each file's name and bytes, in `FILES` order; an absent file
        counts as such, and the names of other CSV files): equal digests mean `load_registry` reads the same
    registry. Raises OSError."""
    h = hashlib.sha256()
    root = Path(folder)
    for extra in sorted(p.name for p in root.glob("*.csv") if p.name not in FILES):
        h.update(b"extra\0" + extra.encode() + b"\0")  # refused by `load_registry`: not the same as without it
    for name in FILES:
        path = root / name
        h.update(name.encode())
        if not path.exists():
            h.update(b"\0absent")
            continue
        h.update(b"\0%d\0" % path.stat().st_size)
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def load_registry(folder: str | Path, progress: Progress = silent, *, away: AwayBound | None = None) -> Registry:
    """Read the CSV files of `folder` into a `Registry`. Files that are absent count as empty. Raises
    `RegistryError` listing every problem of every file; nothing is imported then. `progress` hears
    ("read", rows done, rows in all files) as the rows are checked. An import into the service passes `away`
    (its time and `care.away_max_days`): households held away longer, or without a reason, are refused."""
    root = Path(folder)
    if not root.is_dir():
        raise RegistryError([Problem(str(root), 0, "", tr("registry.file.folder_missing"))])
    problems: list[Problem] = []
    for extra in sorted(p.name for p in root.glob("*.csv") if p.name not in FILES):
        problems.append(Problem(extra, 0, "", tr("registry.file.not_registry", files=", ".join(FILES))))
    loaded: dict[str, _Loaded] = {}
    unreadable: set[str] = set()
    refused_ids: set[str] = set()
    total = sum(_data_lines(root / e.file) for e in ENTITIES)
    done = 0
    progress("read", 0, total)
    for entity in ENTITIES:
        got = _Loaded([], [])
        loaded[entity.name] = got
        path = root / entity.file
        if not path.exists():
            continue
        file = _records(path, entity, problems)
        if file is None or file.absent:
            unreadable.add(entity.name)  # no row can be built: references into this file are not checked
        for row in file.rows if file is not None else ():
            item = row.item(entity)
            if item is not None:
                got.items.append(item)
                got.lines.append(row.line)
            elif "id" in row.cells:
                refused_ids.add(row.cells["id"].strip())
            done += 1
            if done % _REPORT_EVERY == 0:
                progress("read", min(done, total), total)
    progress("read", total, total)

    def locate(collection: str, index: int) -> tuple[str, int]:
        return f"{collection}.csv", loaded[collection].lines[index]

    c = Collections(**{stem: tuple(got.items) for stem, got in loaded.items()})
    for p in check(c, locate, unchecked=frozenset(refused_ids)):
        # a reference into a file whose rows could not be built was already reported as that file's problem
        target = _REFERENCES.get(p.column)
        if target is None or not (target & unreadable):
            problems.append(p)
    if away is not None:
        problems.extend(check_away(c.households, away, locate))
    if problems:
        raise RegistryError(problems)
    return Registry(**{stem: got.items for stem, got in loaded.items()}, locate=locate)


def check_folder(folder: str | Path, *, away: AwayBound | None = None) -> list[Problem]:
    """Every problem `load_registry` would report for `folder`; empty when it would load. For a "check the
    spreadsheet before importing it" command."""
    try:
        load_registry(folder, away=away)
    except RegistryError as e:
        return e.problems
    return []


# --- writing -------------------------------------------------------------------------------------------------


def _rows(entity: Entity[Any], items: Iterator[Any]) -> Iterator[list[Any]]:
    shows = [f.kind.show for f in entity.fields]
    for item in items:
        # the csv module writes None as an empty cell and a str as it is
        yield [v if v is None or show is str else show(v) for show, v in zip(shows, entity.values(item), strict=True)]


def save_registry(reg: Registry, folder: str | Path) -> list[Path]:
    """Write every CSV file of `reg` into `folder` (created if missing). Each file is written to a temporary
    name and renamed, so a reader never sees a half-written file. Returns the paths written."""
    root = Path(folder)
    written = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        c = reg.collections()
        for entity in ENTITIES:
            buf = io.StringIO(newline="")
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(entity.columns)
            w.writerows(_rows(entity, iter(getattr(c, entity.name))))
            path = root / entity.file
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_bytes(buf.getvalue().encode("utf-8-sig"))
            os.replace(tmp, path)
            written.append(path)
    except OSError as e:
        raise DevicesError(f"cannot write the registry to {root}: {e}") from e
    return written
