"""A realistic sample street (幸福街道) for demos, the simulator and tests.

Shape follows what street offices report (docs in /work/shared/domain-notes.md): 1 street, 3 communities,
11 grids, 33 micro-grids, old walk-up compounds and high-rises, ~15 % lone elderly households who consented
to being watched, a leader and 2-3 grid workers per micro-grid on day/night shifts, and ~6,000 devices of all
eight classes. Micro-grids hold fewer households than the real 300-500 so the whole street stays quick to
load and simulate. Everything is drawn from `random.Random(seed)`: the same seed and start give the same street.
`sample_area` puts several such streets side by side for load and scale tests (`SIZES`: district, city).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol

from devices.model import (
    Building,
    CareProfile,
    ChannelKind,
    Community,
    Contact,
    ContactPoint,
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

__all__ = ["CHINA", "DEVICE_PREFIX", "SIZES", "Size", "sample_area", "sample_street"]

CHINA = timezone(timedelta(hours=8), "CST")
"""China Standard Time: no daylight saving, so a fixed offset is exact."""

DEVICE_PREFIX: dict[DeviceClass, str] = {
    DeviceClass.SMOKE_DETECTOR: "SD",
    DeviceClass.WATER_METER: "WM",
    DeviceClass.ACCESS_CONTROL: "AC",
    DeviceClass.AI_CAMERA: "CAM",
    DeviceClass.MANHOLE_COVER: "MH",
    DeviceClass.TRASH_BIN: "TB",
    DeviceClass.GAS_DETECTOR: "GD",
    DeviceClass.EBIKE_CHARGER: "EB",
}

HOUR = 3_600
DAY = 86_400

# the site plan: the street's south-west corner (WGS-84) and metres per degree there
_ORIGIN = (30.2650, 120.1420)
_M_PER_DEG_LAT = 111_320.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(_ORIGIN[0]))
_BUILDING_PITCH_M = 45.0  # between neighbouring buildings of a compound
_ROAD_M = 60.0  # between compounds
_WIRED = frozenset({DeviceClass.ACCESS_CONTROL, DeviceClass.AI_CAMERA, DeviceClass.EBIKE_CHARGER})

# (community id suffix, name, compound names of its micro-grids); grids hold 3 micro-grids each
_COMMUNITIES: list[tuple[str, str, list[str]]] = [
    (
        "yg",
        "阳光社区",
        [
            "桂花苑",
            "丹桂苑",
            "金桂苑",
            "银杏园",
            "枫林苑",
            "梧桐里",
            "紫荆苑",
            "海棠苑",
            "玉兰苑",
            "芙蓉苑",
            "蔷薇苑",
            "石榴园",
        ],
    ),
    (
        "hp",
        "和平社区",
        [
            "和平新村",
            "和顺苑",
            "和美家园",
            "和谐小区",
            "安居苑",
            "乐居苑",
            "康居苑",
            "福居苑",
            "锦绣花园",
            "春晖园",
            "秋实园",
            "夏荷园",
        ],
    ),
    ("cz", "翠竹社区", ["翠竹苑", "青竹园", "竹韵苑", "松涛苑", "松鹤苑", "鹤鸣园", "清泉苑", "碧水园", "湖滨苑"]),
]
_GRID_NUMERALS = "一二三四五六七八九十"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤建国红梅海燕志斌春晓东文辉婷雪琳颖浩宇欣怡佳"
_RELATIONS = ["儿子", "女儿", "侄子", "邻居", "社工", "外甥女"]


@dataclass(frozen=True, slots=True)
class _Kind:
    """A building type of a micro-grid: walk-up compounds are old and low, high-rises are new."""

    floors: tuple[int, ...]
    units_per_floor: int
    buildings: tuple[int, int]  # min, max buildings per micro-grid


_WALKUP = _Kind(floors=(5, 6, 7), units_per_floor=2, buildings=(5, 7))
_HIGHRISE = _Kind(floors=(11, 18, 26), units_per_floor=2, buildings=(2, 3))


class _Ids:
    """Sequential device ids per class, e.g. SD-0000001."""

    def __init__(self) -> None:
        self._n: dict[DeviceClass, int] = {}

    def next(self, cls: DeviceClass) -> str:
        n = self._n.get(cls, 0) + 1
        self._n[cls] = n
        return f"{DEVICE_PREFIX[cls]}-{n:07d}"


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


@dataclass(frozen=True, slots=True)
class Size:
    """How big a generated sample is: `streets` streets of `scale` (buildings per micro-grid multiplied), and
    the share of households with a watched lone elderly resident."""

    streets: int
    scale: int
    watched: float


SIZES: dict[str, Size] = {
    # the sample street: ~6,300 devices, ~2,600 households, ~380 watched
    "street": Size(streets=1, scale=1, watched=0.15),
    # a district of 11 streets with real-sized micro-grids: ~195,000 devices, ~86,000 households, and ~40,000
    # watched (more than most districts have: the load the latency targets are set for)
    "district": Size(streets=11, scale=3, watched=0.47),
    # a city of five such districts: ~980,000 devices
    "city": Size(streets=55, scale=3, watched=0.47),
}

# names of the streets after the first (幸福街道) in a district or city
_STREET_NAMES = [
    *("和平", "光明", "新华", "人民", "建设", "解放", "东风", "红旗", "胜利", "前进"),
    *("朝阳", "长安", "永安", "安定", "团结", "友谊", "振兴", "繁荣", "兴华", "育才"),
]


def sample_street(seed: int = 1, *, start: date | None = None, days: int = 14, scale: int = 1) -> Registry:
    """The sample street. The roster covers `days` days of day (08:00-20:00) and night (20:00-08:00) shifts in
    China time from `start` (default: today in China), plus the night shift running into `start`'s morning.
    Lone elderly households away from home are away until a few days after `start`.

    `scale` multiplies the buildings of every micro-grid: `scale=5` gives the real 300-500 households per
    micro-grid (~13,000 households, ~30,000 devices) for load tests; the default keeps ~6,000 devices."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    return sample_area(Size(1, scale, SIZES["street"].watched), seed, start=start, days=days)


def sample_area(size: Size | str, seed: int = 1, *, start: date | None = None, days: int = 14) -> Registry:
    """A sample of `size` (a `Size`, or a name in `SIZES`): one street like `sample_street`'s, or several side
    by side on the site plan, each with its own communities, grids and staff, and one duty desk for the area
    (the first street's). Ids stay unique: the streets after the first prefix their community ids (`c-s02yg`)."""
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"size {size!r} is not one of {', '.join(SIZES)}")
        size = SIZES[size]
    if size.streets < 1 or size.scale < 1 or not 0 <= size.watched <= 0.7:
        raise ValueError(f"{size}: streets and scale must be at least 1, watched from 0 to 0.7")
    rng = random.Random(seed)
    first = start if start is not None else datetime.now(CHINA).date()
    parts = _Parts()
    cols = math.ceil(math.sqrt(max(_WALKUP.buildings[1], _HIGHRISE.buildings[1]) * size.scale))
    block = cols * _BUILDING_PITCH_M + _ROAD_M
    street_width = 9 * block + 3 * _ROAD_M
    street_depth = 4 * block + _ROAD_M
    for si in range(size.streets):
        if si == 0:
            street, prefix = Street("xf", "幸福街道"), ""
        else:
            prefix = f"s{si + 1:02d}"
            lap, n = divmod(si - 1, len(_STREET_NAMES))
            street = Street(prefix, f"{_STREET_NAMES[n]}{'' if lap == 0 else lap + 1}街道")
        origin = ((si % 10) * street_width, (si // 10) * street_depth)
        _street(rng, street, prefix, origin, size.scale, first, days, parts)
    cared = [_care(rng, h, first, size.watched) for h in parts.households]
    return Registry(
        streets=parts.streets,
        communities=parts.communities,
        grids=parts.grids,
        microgrids=parts.microgrids,
        buildings=parts.buildings,
        households=cared,
        people=parts.people,
        roster=parts.roster,
        devices=parts.devices,
        contacts=_contacts(parts.people, cared),
    )


@dataclass
class _Parts:
    """What the streets of a sample add up to."""

    streets: list[Street] = field(default_factory=list)
    communities: list[Community] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    microgrids: list[MicroGrid] = field(default_factory=list)
    buildings: list[Building] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    roster: list[DutyShift] = field(default_factory=list)
    ids: _Ids = field(default_factory=lambda: _Ids())


def _street(
    rng: random.Random,
    street: Street,
    prefix: str,
    origin: tuple[float, float],
    scale: int,
    first: date,
    days: int,
    parts: _Parts,
) -> None:
    """One street's communities, grids, micro-grids, staff and devices, its south-west corner `origin` metres
    east and north of `_ORIGIN`."""
    devices, people = parts.devices, parts.people

    def dev(cls: DeviceClass, b: Building, interval: int, label: str = "", household: str | None = None) -> None:
        installed = date(2021, 1, 1) + timedelta(days=rng.randrange(4 * 365))
        gateway = _gateway(cls, interval, b.microgrid_id)
        devices.append(Device(parts.ids.next(cls), cls, b.id, household, interval, installed, label, gateway))

    parts.streets.append(street)
    people.extend(
        Person(f"p-{street.id}-{i}", _name(rng), Role.STREET_DUTY, street.id, _phone(rng)) for i in range(1, 3)
    )
    if not prefix:  # one operator for the whole area
        people.append(Person("p-xf-op", _name(rng), Role.OPERATOR, street.id, _phone(rng)))

    # compounds on the site plan: each community three compounds wide, its grids one row of three each
    cols = math.ceil(math.sqrt(max(_WALKUP.buildings[1], _HIGHRISE.buildings[1]) * scale))
    block = cols * _BUILDING_PITCH_M + _ROAD_M
    for ci, (suffix, c_name, compounds) in enumerate(_COMMUNITIES):
        c_suffix = prefix + suffix
        co = Community(f"c-{c_suffix}", c_name, street.id)
        parts.communities.append(co)
        people.extend(
            Person(f"p-{c_suffix}-{i}", _name(rng), Role.COMMUNITY_DUTY, co.id, _phone(rng)) for i in range(1, 3)
        )
        for gi in range(len(compounds) // 3):
            grid = Grid(f"g-{c_suffix}-{gi + 1}", f"{c_name}第{_GRID_NUMERALS[gi]}网格", co.id)
            parts.grids.append(grid)
            for mi in range(3):
                compound = compounds[gi * 3 + mi]
                mg = MicroGrid(f"mg-{c_suffix}-{gi + 1}-{mi + 1}", f"{compound}微网格", grid.id)
                parts.microgrids.append(mg)
                corner = (origin[0] + (ci * 3 + mi) * block + ci * _ROAD_M, origin[1] + gi * block)
                plan = _Plan(corner, cols)
                staff = _microgrid(
                    rng, mg, compound, parts.ids, dev, parts.buildings, parts.households, people, scale, plan
                )
                parts.roster.extend(_shifts(mg.id, staff, first, days))


def _contacts(people: list[Person], households: list[Household]) -> list[ContactPoint]:
    """Every person by e-mail first, then SMS; each watched household's first emergency contact as a consented
    family member by SMS and e-mail. Addresses are made up (example.org): the demo's mailbox receives them."""
    out: list[ContactPoint] = []
    for p in people:
        out.append(ContactPoint(ChannelKind.EMAIL, f"{p.id}@example.org", person_id=p.id, priority=1))
        if p.phone:
            out.append(ContactPoint(ChannelKind.SMS, p.phone, person_id=p.id, priority=2))
    for h in households:
        if not (h.care.watched and h.care.emergency_contacts):
            continue
        c = h.care.emergency_contacts[0]
        for priority, (kind, address) in enumerate(
            ((ChannelKind.SMS, c.phone), (ChannelKind.EMAIL, f"family-{h.id}@example.org")), start=1
        ):
            out.append(
                ContactPoint(
                    kind, address, household_id=h.id, name=c.name, relation=c.relation, priority=priority, consent=True
                )
            )
    return out


def _gateway(cls: DeviceClass, interval: int, microgrid_id: str) -> str | None:
    """Mains devices are wired; hourly water meters send over LoRa to one gateway per compound; the battery
    devices send over NB-IoT, one base station per grid."""
    if cls in _WIRED:
        return None
    compound = microgrid_id.removeprefix("mg-")
    if cls is DeviceClass.WATER_METER and interval < DAY:
        return f"lora-{compound}"
    return f"nb-{compound.rsplit('-', 1)[0]}"


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where a compound's buildings stand: rows of `cols` from `corner` (metres east, north of `_ORIGIN`)."""

    corner: tuple[float, float]
    cols: int

    def place(self, index: int) -> tuple[float, float]:
        """(lat, lon) of the compound's building number `index`."""
        east = self.corner[0] + (index % self.cols + 0.5) * _BUILDING_PITCH_M
        north = self.corner[1] + (index // self.cols + 0.5) * _BUILDING_PITCH_M
        return (
            round(_ORIGIN[0] + north / _M_PER_DEG_LAT, 6),
            round(_ORIGIN[1] + east / _M_PER_DEG_LON, 6),
        )


class _Dev(Protocol):
    def __call__(
        self, cls: DeviceClass, b: Building, interval: int, label: str = "", household: str | None = None
    ) -> None: ...


def _microgrid(
    rng: random.Random,
    mg: MicroGrid,
    compound: str,
    ids: _Ids,
    dev: _Dev,
    buildings: list[Building],
    households: list[Household],
    people: list[Person],
    scale: int,
    plan: _Plan,
) -> list[Person]:
    """Buildings, households and devices of one micro-grid; returns its staff, leader first."""
    kind = _WALKUP if rng.random() < 0.6 else _HIGHRISE
    n_buildings = rng.randint(*kind.buildings) * scale
    # NB-IoT meters in old compounds upload daily; newer high-rises have hourly LoRa/wired meters
    meter_interval = DAY if kind is _WALKUP and rng.random() < 0.7 else HOUR
    first_no = rng.randint(1, 20)
    mine: list[Building] = []
    for bi in range(n_buildings):
        no = first_no + bi
        floors = rng.choice(kind.floors)
        lat, lon = plan.place(bi)
        b = Building(f"{mg.id.replace('mg-', 'b-')}-{no:02d}", f"{compound}{no}号楼", mg.id, floors, lat, lon)
        mine.append(b)
        buildings.append(b)
        dev(DeviceClass.ACCESS_CONTROL, b, 300, "单元门")
        dev(DeviceClass.AI_CAMERA, b, 300, "高空抛物 楼顶")
        if floors > 7:
            dev(DeviceClass.AI_CAMERA, b, 300, "电梯轿厢")
        for f in range(3, floors + 1, 4):
            dev(DeviceClass.SMOKE_DETECTOR, b, DAY, f"{f}F 楼梯间")
        for f in range(1, floors + 1):
            for u in range(1, kind.units_per_floor + 1):
                hid = f"h-{b.id[2:]}-{f:02d}{u:02d}"
                households.append(Household(hid, b.id, f"{no}-{f}{u:02d}", f))
                dev(DeviceClass.WATER_METER, b, meter_interval, "水表", hid)
                if rng.random() < 0.7:
                    dev(DeviceClass.SMOKE_DETECTOR, b, DAY, "客厅", hid)
                if rng.random() < 0.25:
                    dev(DeviceClass.GAS_DETECTOR, b, HOUR, "厨房", hid)
    gate = mine[0]
    dev(DeviceClass.ACCESS_CONTROL, gate, 300, "小区南门")
    dev(DeviceClass.ACCESS_CONTROL, gate, 300, "小区北门")
    dev(DeviceClass.AI_CAMERA, gate, 300, "消防通道")
    dev(DeviceClass.AI_CAMERA, gate, 300, "非机动车棚")
    dev(DeviceClass.AI_CAMERA, gate, 300, "垃圾房")
    for i in range(rng.randint(3, 6)):
        dev(DeviceClass.MANHOLE_COVER, rng.choice(mine), 6 * HOUR, f"{i + 1}号井盖")
    for i in range(rng.randint(2, 4)):
        dev(DeviceClass.TRASH_BIN, rng.choice(mine), HOUR, f"{i + 1}号垃圾桶")
    for i in range(rng.randint(3, 5)):
        dev(DeviceClass.EBIKE_CHARGER, rng.choice(mine), 300, f"{i + 1}号充电桩")

    leader = Person(f"p-{mg.id[3:]}-l", _name(rng), Role.MICROGRID_LEADER, mg.id, _phone(rng))
    workers = [
        Person(f"p-{mg.id[3:]}-w{i}", _name(rng), Role.GRID_WORKER, mg.id, _phone(rng))
        for i in range(1, rng.randint(2, 3) + 1)
    ]
    staff = [leader, *workers]
    people.extend(staff)
    return staff


def _shifts(microgrid_id: str, staff: list[Person], first: date, days: int) -> list[DutyShift]:
    """Day shift: the leader and one worker; night shift: one worker; workers rotate day by day."""
    leader, workers = staff[0], staff[1:]
    out: list[DutyShift] = []
    for d in range(-1, days):
        day = first + timedelta(days=d)
        morning = datetime.combine(day, time(8), CHINA)
        evening = datetime.combine(day, time(20), CHINA)
        night_end = morning + timedelta(days=1)
        if d >= 0:
            out.append(DutyShift(leader.id, microgrid_id, morning, evening))
            out.append(DutyShift(workers[d % len(workers)].id, microgrid_id, morning, evening))
        out.append(DutyShift(workers[(d + 1) % len(workers)].id, microgrid_id, evening, night_end))
    return out


_AWAY_REASONS = ("探亲", "住院", "旅游")


def _care(rng: random.Random, h: Household, first: date, watched: float) -> Household:
    """A share `watched` of lone elderly who consented (some with quiet hours, a few away); a few more elderly or
    lone residents who are not watched, so rules must check all three flags."""
    r = rng.random()
    if r < watched:
        contacts = tuple(Contact(_name(rng), _phone(rng), rng.choice(_RELATIONS)) for _ in range(rng.randint(1, 2)))
        quiet = None
        if rng.random() < 0.3:
            quiet = QuietHours(time(22), time(6)) if rng.random() < 0.7 else QuietHours(time(21, 30), time(6, 30))
        away, reason = None, None
        if rng.random() < 0.05:
            days = rng.randint(2, 6)
            away = datetime.combine(first + timedelta(days=days), time(18), CHINA)
            reason = _AWAY_REASONS[days % len(_AWAY_REASONS)]  # no draw of its own: the street stays as it was
        care = CareProfile(True, True, True, contacts, quiet, away, reason)
    elif r < watched + 0.05:
        care = CareProfile(lives_alone=True, elderly=True, consent=False)
    elif r < watched + 0.15:
        care = CareProfile(lives_alone=False, elderly=True, consent=rng.random() < 0.5)
    else:
        return h
    return Household(h.id, h.building_id, h.unit, h.floor, care)
