"""How each kind of registry value is written in a spreadsheet cell and kept in the relational store.

A `Kind` pairs the text form (parse a trimmed, non-empty cell; show a value as a cell) with the store form
(column types and the values written to them). Absent values (`None`) never reach a kind: the CSV reader turns
an empty cell into the field's default and the writers turn `None` into an empty cell or NULL columns. Parsers
raise `CellError` with what was expected, which the CSV reader reports with file, line and column.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from core.i18n import EN, ZH, Text, lang_tag, tr
from devices.errors import DevicesError
from devices.model import Contact, QuietHours
from devices.topics import ID_PATTERN

__all__ = [
    "BOOL",
    "CONTACTS",
    "DATE",
    "DEGREES",
    "DURATION",
    "EMAIL",
    "ID",
    "INT",
    "LANG",
    "PHONE",
    "QUIET_HOURS",
    "REF",
    "TEXT",
    "TIMESTAMP",
    "CellError",
    "Kind",
    "StoreType",
    "enum_kind",
]

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

StoreType = Literal["id", "text", "int", "bool", "float", "enum", "time", "date", "timestamp"]
"""The type of one store column; `devices.store` maps each to a SQL type."""


class CellError(ValueError):
    """A cell could not be read; `reason` (a catalog `Text`) names what was expected."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """The text and store forms of one type of value. Without `dump` and `load` the value is kept as it is in
    one store column (the database driver returns it as the same Python type)."""

    parse: Callable[[str], T]  # a trimmed, non-empty cell -> value; raises CellError
    show: Callable[[T], str]  # value -> cell text that `parse` reads back as the same value
    store: tuple[StoreType, ...]  # one entry per store column
    dump: Callable[[T], tuple[Any, ...]] | None = None  # value -> one value per store column
    load: Callable[[tuple[Any, ...]], T] | None = None  # store values (none NULL) -> value


_TRUE = {"yes", "y", "true", "t", "1", "是"}
_FALSE = {"no", "n", "false", "f", "0", "否", ""}
_ID = re.compile(ID_PATTERN)
_SCIENTIFIC = re.compile(r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+")  # 1.38E+10: a phone number Excel "helped" with
_HHMM = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _ident(s: str) -> str:
    if not _ID.fullmatch(s):
        raise CellError(tr("registry.cell.id"))
    return s


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise CellError(tr("registry.cell.whole_number")) from None


_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_DURATION_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration(s: str) -> int:
    m = _DURATION.fullmatch(s.strip().lower())
    if not m:
        raise CellError(tr("registry.cell.duration"))
    value = int(m[1]) * _DURATION_UNIT[m[2]]
    if value <= 0:
        raise CellError(tr("registry.cell.duration_positive"))
    return value


def _bool(s: str) -> bool:
    v = s.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise CellError(tr("registry.cell.bool"))


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _degrees(s: str) -> float:
    try:
        value = float(s)
    except ValueError:
        raise CellError(tr("registry.cell.degrees")) from None
    if not math.isfinite(value):
        raise CellError(tr("registry.cell.degrees_finite"))
    return value


def _aware(s: str) -> datetime:
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise CellError(tr("registry.cell.timestamp")) from None
    if d.tzinfo is None:
        raise CellError(tr("registry.cell.timestamp_offset"))
    return d


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise CellError(tr("registry.cell.date")) from None


def _time(s: str) -> time:
    m = _HHMM.fullmatch(s.strip())
    if not m:
        raise CellError(tr("registry.cell.time"))
    try:
        return time(int(m[1]), int(m[2]), int(m[3] or 0))
    except ValueError:
        raise CellError(tr("registry.cell.time_range")) from None


def _quiet(s: str) -> QuietHours:
    start, sep, end = s.partition("-")
    if not sep:
        raise CellError(tr("registry.cell.quiet_hours"))
    q = QuietHours(_time(start), _time(end))
    if q.start == q.end:
        raise CellError(tr("registry.cell.quiet_hours_empty"))
    return q


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _hms(t: time) -> str:
    return t.isoformat(timespec="seconds")


def _phone(s: str) -> str:
    if _SCIENTIFIC.fullmatch(s):
        raise CellError(tr("registry.cell.scientific"))
    return s


def _email(s: str) -> str:
    if not _EMAIL.fullmatch(s):
        raise CellError(tr("registry.cell.email"))
    return s


def _contacts(s: str) -> tuple[Contact, ...]:
    out = []
    for part in s.split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split("|")]
        if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
            raise CellError(tr("registry.cell.contacts"))
        out.append(Contact(fields[0], _phone(fields[1]), fields[2] if len(fields) == 3 else ""))
    return tuple(out)


def _contact_cell(contacts: tuple[Contact, ...]) -> str:
    for c in contacts:
        if any(ch in f for f in (c.name, c.phone, c.relation) for ch in "|;"):
            raise DevicesError(tr("registry.contact_unwritable", name=repr(c.name)))
    return ";".join(f"{c.name}|{c.phone}|{c.relation}" if c.relation else f"{c.name}|{c.phone}" for c in contacts)


def _contacts_json(contacts: tuple[Contact, ...]) -> tuple[Any, ...]:
    return (json.dumps([[k.name, k.phone, k.relation] for k in contacts], ensure_ascii=False),)


def _contacts_from_json(values: tuple[Any, ...]) -> tuple[Contact, ...]:
    return tuple(Contact(*k) for k in json.loads(values[0]))


ID: Kind[str] = Kind(_ident, str, ("id",))
"""An id of the row itself (or a grouping id such as a gateway's): checked for topic-safe syntax."""
REF: Kind[str] = Kind(str, str, ("id",))
"""A reference to another row's id; whether it exists is checked with the whole registry."""
TEXT: Kind[str] = Kind(str, str, ("text",))
PHONE: Kind[str] = Kind(_phone, str, ("text",))
EMAIL: Kind[str] = Kind(_email, str, ("text",))
INT: Kind[int] = Kind(_int, str, ("int",))
BOOL: Kind[bool] = Kind(_bool, _yes, ("bool",))
DURATION: Kind[int] = Kind(_duration, str, ("int",))
"""A positive duration, kept in whole seconds; a cell may say `90m`, `12h` or `1d`."""
DEGREES: Kind[float] = Kind(_degrees, repr, ("float",))
DATE: Kind[date] = Kind(_date, date.isoformat, ("date",), lambda d: (d.isoformat(),), lambda v: _date(v[0]))
TIMESTAMP: Kind[datetime] = Kind(
    _aware, datetime.isoformat, ("timestamp",), lambda d: (d.isoformat(),), lambda v: datetime.fromisoformat(v[0])
)
"""A date and time with its UTC offset, kept as written (ISO 8601)."""
QUIET_HOURS: Kind[QuietHours] = Kind(
    _quiet,
    lambda q: f"{_hhmm(q.start)}-{_hhmm(q.end)}",
    ("time", "time"),
    lambda q: (_hms(q.start), _hms(q.end)),
    lambda v: QuietHours(time.fromisoformat(v[0]), time.fromisoformat(v[1])),
)
CONTACTS: Kind[tuple[Contact, ...]] = Kind(_contacts, _contact_cell, ("text",), _contacts_json, _contacts_from_json)
"""Contacts as `name|phone|relation;...` in a cell and as a JSON list of [name, phone, relation] in the store."""


def _lang(s: str) -> str:
    tag = lang_tag(s)
    if tag is None:
        raise CellError(tr("registry.cell.lang", zh=ZH, en=EN))
    return tag


LANG: Kind[str] = Kind(_lang, str, ("text",))
"""A language of the message catalog: `zh-CN` or `en` (`zh`, `zh_CN` and `en-GB` are read as these)."""


def enum_kind(kind: type[E]) -> Kind[E]:
    """Values of a `StrEnum`, written and stored as their value."""

    def parse(s: str) -> E:
        try:
            return kind(s)
        except ValueError:
            raise CellError(tr("registry.cell.one_of", values=", ".join(k.value for k in kind))) from None

    return Kind(parse, lambda e: e.value, ("enum",), lambda e: (e.value,), lambda v: kind(v[0]))
