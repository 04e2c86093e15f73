"""Value types of the grid hierarchy, the people who work it and the devices installed in it.

Pure data: frozen, slotted dataclasses with no I/O, so every other package can hold and compare them freely.
Ids are stable strings chosen by the community (they appear in MQTT topics); names may be Chinese. The defaults
here are the registry's defaults; what each field means, and its CSV and store columns, are declared in
`devices.fields`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum


class Level(StrEnum):
    """Levels of the grid, outermost first."""

    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    MICROGRID = "microgrid"
    BUILDING = "building"
    HOUSEHOLD = "household"


class DeviceClass(StrEnum):
    """Device classes of protocol v1; each has payload models in `devices.payloads`."""

    SMOKE_DETECTOR = "smoke_detector"
    WATER_METER = "water_meter"
    ACCESS_CONTROL = "access_control"
    AI_CAMERA = "ai_camera"
    MANHOLE_COVER = "manhole_cover"
    TRASH_BIN = "trash_bin"
    GAS_DETECTOR = "gas_detector"
    EBIKE_CHARGER = "ebike_charger"


class Role(StrEnum):
    """What a person does; with `Person.scope_id` it decides which tickets they see and touch."""

    STREET_DUTY = "street_duty"
    COMMUNITY_DUTY = "community_duty"
    MICROGRID_LEADER = "microgrid_leader"
    GRID_WORKER = "grid_worker"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Street:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Community:
    id: str
    name: str
    street_id: str


@dataclass(frozen=True, slots=True)
class Grid:
    id: str
    name: str
    community_id: str


@dataclass(frozen=True, slots=True)
class MicroGrid:
    id: str
    name: str
    grid_id: str


@dataclass(frozen=True, slots=True)
class Building:
    id: str
    name: str
    microgrid_id: str
    floors: int = 1
    lat: float | None = None  # WGS-84 decimal degrees, for the site plan; both or neither
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """An emergency contact of a household (family, neighbour, social worker)."""

    name: str
    phone: str
    relation: str = ""


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local-time window in which resident-care rules stay silent; may wrap midnight (22:00-06:00)."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class CareProfile:
    """What resident-care rules need to know about a household. Only used when `consent` is true."""

    lives_alone: bool = False
    elderly: bool = False
    consent: bool = False
    emergency_contacts: tuple[Contact, ...] = ()
    quiet_hours: QuietHours | None = None
    away_until: datetime | None = None  # timezone-aware; travel, hospital stay
    away_reason: str | None = None  # why `away_until` holds the household away (an import requires one)

    @property
    def watched(self) -> bool:
        """True when the household is a lone elderly resident who consented to being watched."""
        return self.consent and self.lives_alone and self.elderly

    def away_at(self, when: datetime) -> bool:
        return self.away_until is not None and when < self.away_until


@dataclass(frozen=True, slots=True)
class Household:
    id: str
    building_id: str
    unit: str  # room / door number as written on the door, e.g. "3-1201"
    floor: int = 1
    care: CareProfile = field(default_factory=CareProfile)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who works the grid. `scope_id` is the node they answer for (a micro-grid for workers)."""

    id: str
    name: str
    role: Role
    scope_id: str
    phone: str = ""
    email: str = ""
    lang: str | None = None  # zh-CN or en: the language of their notices; None: the deployment's


@dataclass(frozen=True, slots=True)
class DutyShift:
    """One entry of the duty roster: `person_id` is on duty in `microgrid_id` from `start` to `end`. With
    `replaces`, the shift takes over that person's duty in the micro-grid for its span (cover for leave, one half
    of a swap): they are not on duty there meanwhile."""

    person_id: str
    microgrid_id: str
    start: datetime
    end: datetime
    replaces: str | None = None

    def covers(self, when: datetime) -> bool:
        return self.start <= when < self.end


class ChannelKind(StrEnum):
    """How a message reaches someone (see docs/notifications.md for the providers behind each)."""

    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    NTFY = "ntfy"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class ContactPoint:
    """One way to reach a person of the registry (`person_id`) or a household's family member (`household_id`
    with the member's `name`): a channel and the address on it. A person's or family member's points are tried
    in `priority` order (1 first). Family members are messaged only with their `consent`; `quiet_hours` keep
    this point silent (local time) except for critical tickets."""

    channel: ChannelKind
    address: str
    person_id: str | None = None
    household_id: str | None = None
    name: str = ""
    relation: str = ""
    priority: int = 1
    consent: bool = False
    quiet_hours: QuietHours | None = None
    lang: str | None = None  # a family member's language (zh-CN or en); None: the deployment's

    @property
    def owner(self) -> str:
        """The person id, or `<household_id>#<name>` for a family member."""
        return self.person_id if self.person_id is not None else f"{self.household_id}#{self.name}"


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    device_class: DeviceClass
    building_id: str
    household_id: str | None = None
    expected_interval_s: int = 86_400
    installed: date | None = None
    label: str = ""  # free text: "3F stairwell", "north gate"
    gateway_id: str | None = None  # the gateway or base station it reports through
    offline_after_s: int | None = None  # silence before it is offline; None: by its class (`devices.classes`)
