"""Every registry field declared once: the attribute it fills, its kind of value, its CSV column, its store
column(s) and what it means.

CSV import/export (`devices.csvio`), the relational store (`devices.store`) and the column tables of
docs/registry.md are derived from `ENTITIES`. A field's default, and so whether its column is required, is the
model dataclass's default (`devices.model`). Adding a field: give the dataclass the attribute with its default,
declare a `Field` in its entity below, run `python -m devices.fields docs/registry.md` to update the docs, and write
the store column's revision with `cwatch db revision -m "..."` (CONTRIBUTING.md, "Changing the tables").
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from devices.kinds import (
    BOOL,
    CONTACTS,
    DATE,
    DEGREES,
    DURATION,
    EMAIL,
    ID,
    INT,
    LANG,
    PHONE,
    QUIET_HOURS,
    REF,
    TEXT,
    TIMESTAMP,
    Kind,
    enum_kind,
)
from devices.model import (
    Building,
    CareProfile,
    ChannelKind,
    Community,
    ContactPoint,
    Device,
    DeviceClass,
    DutyShift,
    Grid,
    Household,
    MicroGrid,
    Person,
    Role,
    Street,
)

__all__ = ["BY_NAME", "ENTITIES", "Entity", "Field", "doc_table", "documented", "update_doc"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an entity. `attr` is an attribute of the entity's type, or `part.attribute` for one of a
    part it holds (a household's `care.consent`). `column` defaults to the attribute's name and `store` to
    `(column,)`; `default` and `required` are filled in from the dataclass by `Entity`."""

    attr: str
    kind: Kind[Any]
    doc: str  # the meaning, in Markdown, as docs/registry.md shows it
    column: str = ""
    store: tuple[str, ...] = ()
    index: bool = False  # the store indexes this column
    default: Any = None
    required: bool = False

    @property
    def nullable(self) -> bool:
        """The value may be absent (None): an empty cell, NULL store columns."""
        return not self.required and self.default is None


def _default(cls: type, name: str) -> tuple[bool, Any]:
    """(required, default) of dataclass attribute `name` of `cls`."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return False, f.default
            if f.default_factory is not dataclasses.MISSING:
                return False, f.default_factory()
            return True, None
    raise AssertionError(f"{cls.__name__} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class Entity(Generic[T]):
    """One collection of the registry: its CSV file `{name}.csv`, its store table `devices_{name}` and its
    `Registry` keyword. `parts` names the attributes that hold a dataclass of their own fields."""

    name: str
    cls: type[T]
    fields: tuple[Field, ...]
    parts: Mapping[str, type] = field(default_factory=lambda: MappingProxyType({}))
    _getters: tuple[Callable[[Any], Any], ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        resolved = []
        for f in self.fields:
            head, _, tail = f.attr.partition(".")
            required, default = _default(self.parts[head], tail) if tail else _default(self.cls, head)
            column = f.column or f.attr.rpartition(".")[2]
            store = f.store or (column,)
            if len(store) != len(f.kind.store):
                raise AssertionError(f"{self.name}.{f.attr}: {len(store)} store columns for a kind of {f.kind.store}")
            resolved.append(dataclasses.replace(f, column=column, store=store, default=default, required=required))
        object.__setattr__(self, "fields", tuple(resolved))
        object.__setattr__(self, "_getters", tuple(attrgetter(f.attr) for f in resolved))
        slots = []
        for f in resolved:
            head, _, tail = f.attr.partition(".")
            slots.append((head, tail))
        object.__setattr__(self, "_slots", tuple(slots))
        object.__setattr__(self, "_names", tuple(f.attr for f in resolved))

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> tuple[str, ...]:
        """CSV columns in the order files are written."""
        return tuple(f.column for f in self.fields)

    def values(self, item: T) -> list[Any]:
        """The value of every field of `item`, in field order."""
        return [get(item) for get in self._getters]

    def build(self, values: Sequence[Any]) -> T:
        """An item from one value per field, in field order."""
        if not self.parts:
            return self.cls(**dict(zip(self._names, values, strict=True)))
        top: dict[str, Any] = {}
        parts: dict[str, dict[str, Any]] = {name: {} for name in self.parts}
        for (head, tail), value in zip(self._slots, values, strict=True):
            if tail:
                parts[head][tail] = value
            else:
                top[head] = value
        for name, cls in self.parts.items():
            top[name] = cls(**parts[name])
        return self.cls(**top)


_NODE_DOC = (
    "the node they answer for: a micro-grid for leaders and workers, a community or the street for duty officers"
)

_LANG_DOC = (
    "`zh-CN` or `en`: the language of their notices and one-tap pages; empty: the deployment's `language` setting"
)


def _one_of(values: Sequence[str]) -> str:
    """`a`, `b` or `c`"""
    quoted = [f"`{v}`" for v in values]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"


ENTITIES: tuple[Entity[Any], ...] = (
    Entity("streets", Street, (Field("id", ID, "street id"), Field("name", TEXT, "name, e.g. 幸福街道"))),
    Entity(
        "communities",
        Community,
        (
            Field("id", ID, "community id; the second level of every MQTT topic (`cw/{community_id}/...`)"),
            Field("name", TEXT, "e.g. 阳光社区"),
            Field("street_id", REF, "the street it belongs to"),
        ),
    ),
    Entity(
        "grids",
        Grid,
        (
            Field("id", ID, "grid id"),
            Field("name", TEXT, "e.g. 阳光社区第一网格"),
            Field("community_id", REF, "its community"),
        ),
    ),
    Entity(
        "microgrids",
        MicroGrid,
        (
            Field("id", ID, "micro-grid id"),
            Field("name", TEXT, "e.g. 桂花苑微网格"),
            Field("grid_id", REF, "its grid"),
        ),
    ),
    Entity(
        "buildings",
        Building,
        (
            Field("id", ID, "building id"),
            Field("name", TEXT, "e.g. 桂花苑3号楼"),
            Field("microgrid_id", REF, "its micro-grid"),
            Field("floors", INT, "number of floors above ground (whole number ≥ 1). Thrown-object alerts use it"),
            Field(
                "lat",
                DEGREES,
                "latitude in WGS-84 decimal degrees, e.g. `30.2741`; with `lon` it places the building on the site "
                "plan (both or neither)",
            ),
            Field("lon", DEGREES, "longitude in WGS-84 decimal degrees, e.g. `120.1551`"),
        ),
    ),
    Entity(
        "households",
        Household,
        (
            Field("id", ID, "household id"),
            Field("building_id", REF, "its building"),
            Field("unit", TEXT, "door number as written on the door, e.g. `3-1201`"),
            Field("floor", INT, "floor (whole number, not above the building's `floors`)"),
            Field("care.lives_alone", BOOL, "boolean: lives alone (独居)"),
            Field("care.elderly", BOOL, "boolean: an elderly resident (老人)"),
            Field(
                "care.consent",
                BOOL,
                "boolean: the resident agreed to be watched; without it no resident-care rule looks at this household",
            ),
            Field(
                "care.emergency_contacts",
                CONTACTS,
                "`name|phone|relation;name|phone|relation` — relation optional, called before a visit",
            ),
            Field(
                "care.quiet_hours",
                QUIET_HOURS,
                "`HH:MM-HH:MM` local time in which care rules stay silent; may wrap midnight (`22:00-06:00`)",
                store=("quiet_start", "quiet_end"),
            ),
            Field(
                "care.away_until",
                TIMESTAMP,
                "ISO 8601 with offset: away (travel, hospital) until then; care rules stay silent. At most "
                "`care.away_max_days` (30) after the import, and with `away_reason`; a past date is accepted "
                "(the household is not away)",
            ),
            Field(
                "care.away_reason",
                TEXT,
                "why the household is away (e.g. 住院 hospital stay); required with an `away_until` still ahead",
            ),
        ),
        MappingProxyType({"care": CareProfile}),
    ),
    Entity(
        "people",
        Person,
        (
            Field("id", ID, "person id (stable; tickets and the roster refer to it)"),
            Field("name", TEXT, "name"),
            Field("role", enum_kind(Role), _one_of([r.value for r in Role])),
            Field("scope_id", REF, _NODE_DOC),
            Field(
                "phone",
                PHONE,
                "mobile number for notifications. Format the column as text in Excel: a number shown as "
                "`1.38E+10` is refused",
            ),
            Field("email", EMAIL, "e-mail address for notifications"),
            Field("lang", LANG, _LANG_DOC),
        ),
    ),
    Entity(
        "roster",
        DutyShift,
        (
            Field("person_id", REF, "a person of people.csv"),
            Field("microgrid_id", REF, "the micro-grid they cover", index=True),
            Field("start", TIMESTAMP, "ISO 8601 with offset"),
            Field("end", TIMESTAMP, "ISO 8601 with offset, after `start`"),
            Field(
                "replaces",
                REF,
                "optional: a person whose duty in this micro-grid this shift takes over while it lasts (cover for "
                "leave; a swap is two such rows): they are not on duty then. They must have a shift there that it "
                "overlaps",
            ),
        ),
    ),
    Entity(
        "contacts",
        ContactPoint,
        (
            Field(
                "channel",
                enum_kind(ChannelKind),
                _one_of([c.value for c in ChannelKind]) + " (see [notifications.md](notifications.md))",
            ),
            Field(
                "address",
                TEXT,
                "where on that channel: a mobile number for `sms` and `voice`, an e-mail address, a WeCom, DingTalk "
                "or Feishu robot key or user id, an ntfy topic, a Telegram chat id, a URL for `webhook`",
            ),
            Field("person_id", REF, "a person of people.csv: one of their contact points", index=True),
            Field(
                "household_id",
                REF,
                "or a household of households.csv: a contact point of one of its family members (give exactly one "
                "of `person_id` and `household_id`)",
                index=True,
            ),
            Field("name", TEXT, "for a household: the family member, e.g. 王小明 (their contact points share it)"),
            Field("relation", TEXT, "for a household: how they are related, e.g. 儿子"),
            Field("priority", INT, "order in which a person's channels are tried (1 first)"),
            Field(
                "consent",
                BOOL,
                "boolean: the family member agreed to be contacted; a household's contact point is used only with it",
            ),
            Field(
                "quiet_hours",
                QUIET_HOURS,
                "`HH:MM-HH:MM` local time in which this point is not used, except for critical tickets",
                store=("quiet_start", "quiet_end"),
            ),
            Field(
                "lang",
                LANG,
                "for a household: the family member's language (give it on one of their points). " + _LANG_DOC,
            ),
        ),
    ),
    Entity(
        "devices",
        Device,
        (
            Field(
                "id",
                ID,
                "device id, as in the MQTT topic (`cw/{community_id}/{device_id}/{channel}`), e.g. `SD-0001234`",
            ),
            Field(
                "device_class",
                enum_kind(DeviceClass),
                _one_of([c.value for c in DeviceClass]) + " (see [device-protocol.md](device-protocol.md))",
            ),
            Field(
                "building_id",
                REF,
                "the building it is installed in or next to (gates, manholes and bins belong to the nearest building)",
            ),
            Field(
                "household_id",
                REF,
                "the household, for in-home devices (water meter, kitchen gas detector); must be in `building_id`; "
                "empty for shared devices (stairwell smoke detector, gate)",
            ),
            Field(
                "expected_interval_s",
                INT,
                "seconds between regular reports (heartbeat or telemetry); offline detection uses it",
            ),
            Field("installed", DATE, "installation date, `YYYY-MM-DD`"),
            Field("label", TEXT, "free text: 3F 楼梯间, 小区南门"),
            Field(
                "gateway_id",
                ID,
                "the gateway, concentrator or NB-IoT base station it reports through, e.g. `lora-gw-03`; devices "
                "silent together behind one gateway are one `gateway_offline` ticket (docs/rules.md, outage). Empty "
                "for devices on a wired or Wi-Fi network",
            ),
            Field(
                "offline_after_s",
                DURATION,
                "silence after which the device is reported offline, in seconds or as `90m`, `12h`, `1d`; empty: "
                "the longer of 3 x `expected_interval_s` and its class's default (minutes for mains devices, hours "
                "to a day for battery ones; the table is in [rules.md](rules.md#offline-device-classes))",
            ),
        ),
    ),
)

BY_NAME: Mapping[str, Entity[Any]] = MappingProxyType({e.name: e for e in ENTITIES})


# --- docs ----------------------------------------------------------------------------------------------------


def _shown_default(f: Field) -> str:
    """The default worth telling a clerk: not an empty value, not "no"."""
    if f.required or f.default in (None, "", False, ()):
        return ""
    return f" Default {f.kind.show(f.default)}."


def doc_table(entity: Entity[Any]) -> str:
    """The Markdown table of `entity`'s columns; required columns in bold."""
    lines = ["| column | meaning |", "| --- | --- |"]
    for f in entity.fields:
        name = f"**`{f.column}`**" if f.required else f"`{f.column}`"
        meaning = f.doc.replace("|", "\\|") + ("." if not f.doc.endswith(".") and _shown_default(f) else "")
        lines.append(f"| {name} | {meaning}{_shown_default(f)} |")
    return "\n".join(lines)


_BLOCK = re.compile(r"(<!-- fields: (\w+) -->\n)(.*?)(<!-- end fields -->)", re.DOTALL)


def update_doc(text: str) -> str:
    """`text` with every block between `<!-- fields: NAME -->` and `<!-- end fields -->` replaced by the table
    of entity NAME."""
    return _BLOCK.sub(lambda m: m[1] + doc_table(BY_NAME[m[2]]) + "\n" + m[4], text)


def documented(text: str) -> list[str]:
    """The entity names whose tables `text` holds, in order."""
    return [m[2] for m in _BLOCK.finditer(text)]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        path = Path(arg)
        path.write_text(update_doc(path.read_text(encoding="utf-8")), encoding="utf-8")
