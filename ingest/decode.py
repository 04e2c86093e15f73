"""Turn one MQTT message (topic, payload bytes) into `Reading`s, or refuse it with a reason.

Pure logic: no I/O, no state apart from a per-topic routing cache that is dropped when the registry changes.
Checks run cheapest first (size, retain flag, topic, registry, then the payload), so junk costs little.

Validation has two paths. The fast path (`ingest.decode_fast`, msgspec) only ever *accepts*; anything it
does not accept goes to the pydantic models of `devices.payloads`, which are the source of truth: they accept
what they accept (lax coercions included) and name the reason when they refuse.

Both JSON parsers let the last of two equal keys win (`{"smoke_obscuration_pct": 1, "smoke_obscuration_pct": 99}`
reads as 99), and the protocol refuses such a payload. The fast path accepts only a payload whose double quotes
its decoded keys and strings account for (`ingest.decode_fast`: one byte count, no second parse); the pydantic
path parses once more to find a repeated key (`_repeated_key`) before it validates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from pydantic import AnyUrl, BaseModel, ValidationError

from core.clock import Clock
from core.urls import AllowEntry
from devices.model import Device, DeviceClass
from devices.payloads import LOOPBACK_MEDIA, Channel, Payload, model_for
from devices.reading import Reading, Scalar
from devices.topics import TopicError, parse_topic
from ingest.decode_fast import FastModel, device_epoch, fast_decoder, quote_pairs
from ingest.refusals import RefusalReason, Refused

__all__ = ["Decoder", "PlacementView", "RegistryView"]

_ROUTE_CACHE_MIN = 100_000
"""The routing cache holds at least this many topics, and at least every topic of the registry's devices
(`_route_max`): a miss costs a topic parse, two registry look-ups and a route (~10 us, most of a
message's decoding), and devices report round-robin, so a cache smaller than the registry misses every time."""
_DETAIL_MAX = 200
# Tags pydantic appends to an error's location for union members and validators; not field names.
_LOC_NOISE = frozenset({"datetime", "float", "int", "str", "bool", "list", "url", "constrained-float"})


class PlacementView(Protocol):
    """Where a device sits in the grid (`devices.registry.Placement` satisfies this)."""

    @property
    def community_id(self) -> str: ...
    @property
    def microgrid_id(self) -> str: ...
    @property
    def building_id(self) -> str: ...
    @property
    def household_id(self) -> str | None: ...


class RegistryView(Protocol):
    """What the decoder needs from `devices.registry.Registry`: two look-ups, and the devices (to size its cache)."""

    @property
    def devices(self) -> Mapping[str, Device]: ...
    def device(self, device_id: str) -> Device | None: ...
    def placement(self, device_id: str) -> PlacementView | None: ...


def _route_max(registry: RegistryView) -> int:
    """Only routes of registered devices are cached and a topic names one device and channel, so every topic of
    the registry fits (~150 bytes a route: ~30 MB for a district's 195,000 devices, each on one channel)."""
    return max(_ROUTE_CACHE_MIN, len(Channel) * len(registry.devices))


@dataclass(frozen=True, slots=True)
class _Route:
    """Everything a topic resolves to, computed once per topic and registry."""

    device_id: str
    device_class: DeviceClass
    channel: Channel
    model: type[Payload]
    fast: FastModel | None
    community_id: str
    microgrid_id: str
    building_id: str
    household_id: str | None


class Decoder:
    """Validates messages against protocol v1 and the registry.

    `max_future_s` / `max_age_s` bound device time against this decoder's clock: a device with a wrong clock
    or a message replayed from long ago is refused instead of landing at a nonsense place on the time axis.
    Redelivered messages are not detected here (the spool drops them).
    `fast=False` turns the msgspec fast path off (tests compare both paths; verdicts never differ).
    `loopback_media`: allow-list entries whose media URLs may name this machine (the demo's own snapshots only;
    `devices.payloads.LOOPBACK_MEDIA`)."""

    def __init__(
        self,
        registry: RegistryView,
        clock: Clock,
        *,
        max_future_s: float = 300,
        max_age_s: float = 7 * 86_400,
        max_bytes: int = 65_536,
        fast: bool = True,
        loopback_media: Sequence[AllowEntry] = (),
    ) -> None:
        self._clock = clock
        self._context = {LOOPBACK_MEDIA: tuple(loopback_media)} if loopback_media else None
        self._use_fast = fast
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._fast: dict[type[Payload], FastModel | None] = {}
        self._routes: dict[str, _Route] = {}
        self._registry = registry
        self._route_max = _route_max(registry)

    @property
    def registry(self) -> RegistryView:
        return self._registry

    @registry.setter
    def registry(self, registry: RegistryView) -> None:
        self.set_registry(registry)

    def set_registry(self, registry: RegistryView) -> None:
        """Use a new registry from now on (devices added, moved or removed)."""
        self._registry = registry
        self._routes = {}
        self._route_max = _route_max(registry)

    # --- the hot path ---------------------------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes, *, retain: bool, received_at: float) -> list[Reading]:
        """The readings in one message: one, or for a water meter's daily upload one per frozen interval
        reading (oldest first) followed by the current one. Raises `Refused`."""
        if len(payload) > self.max_bytes:
            raise Refused(RefusalReason.TOO_LARGE, f"payload is {len(payload)} bytes, limit {self.max_bytes}")
        if retain:
            raise Refused(RefusalReason.RETAINED, "retained message (a stale snapshot); devices must not retain")
        route = self._routes.get(topic)
        if route is None:
            route = self._route(topic)
        fast = route.fast
        if fast is not None:
            try:
                msg = fast.decoder.decode(payload)
                vals = msgspec.structs.astuple(msg)
                ts = vals[0]
                fields = {n: v for n, v in zip(fast.names, vals[2:], strict=True) if v is not None}
                # each key and each string brings a pair of quotes: a payload with no more quotes than the ones its
                # struct holds has no key twice (ingest.decode_fast's docstring). Keys: ts, seq if sent, the fields
                pairs = len(fields) + (1 if vals[1] is None else 2)
                if fast.strings:
                    pairs += len(fast.strings & fields.keys())
                if ts.__class__ is not float:
                    ts = device_epoch(ts)
                    pairs += 1
                if fast.defaults:
                    fields = fast.defaults | fields
                frozen = None
                extra: dict[str, Any] = {}
                if fast.nested:
                    frozen, extra, nested_pairs = _fast_nested(fields, fast.nested)
                    pairs += nested_pairs
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
                pass  # not accepted by the fast path: pydantic decides
            else:
                if payload.count(b'"') == 2 * pairs:
                    return self._build(route, ts, vals[1], fields, extra, frozen, received_at)
        return self._readings(route, self._validate(route, payload), received_at)

    # --- routing --------------------------------------------------------------------------------------------

    def _route(self, topic: str) -> _Route:
        try:
            t = parse_topic(topic)
        except TopicError as e:
            raise Refused(RefusalReason.BAD_TOPIC, _short(str(e))) from None
        device = self._registry.device(t.device_id)
        place = self._registry.placement(t.device_id)
        if device is None or place is None:
            raise Refused(RefusalReason.UNKNOWN_DEVICE, f"device {t.device_id!r} is not registered")
        if place.community_id != t.community_id:
            raise Refused(
                RefusalReason.WRONG_COMMUNITY,
                f"device {t.device_id!r} is registered in community {place.community_id!r}, not {t.community_id!r}",
            )
        model = model_for(device.device_class, t.channel)
        if model is None:
            raise Refused(
                RefusalReason.WRONG_CHANNEL,
                f"device class {device.device_class.value} does not send on the {t.channel.value} channel",
            )
        if model not in self._fast:
            self._fast[model] = fast_decoder(model) if self._use_fast else None
        route = _Route(
            device_id=device.id,  # the registry's own string: the rule engine's dicts then compare by identity
            device_class=device.device_class,
            channel=t.channel,
            model=model,
            fast=self._fast[model],
            community_id=place.community_id,
            microgrid_id=place.microgrid_id,
            building_id=place.building_id,
            household_id=place.household_id,
        )
        if len(self._routes) >= self._route_max:
            self._routes = {}
        self._routes[topic] = route
        return route

    # --- the pydantic path: source of truth, names the reason -----------------------------------------------

    def _validate(self, route: _Route, payload: bytes) -> Iterator[tuple[str, Any]]:
        # first: with a key given twice, what pydantic would make of the payload is a guess (the last value wins)
        repeated = _repeated_key(payload)
        if repeated is not None:
            raise Refused(
                RefusalReason.DUPLICATE_KEY, _short(f"key {repeated!r} is given twice in one object; send it once")
            )
        try:
            msg = route.model.model_validate_json(payload, context=self._context)
        except ValidationError as e:
            raise _refusal(e, payload, route.model) from None
        return _model_items(msg)

    # --- building readings ----------------------------------------------------------------------------------

    def _readings(self, route: _Route, items: Iterable[tuple[str, Any]], received_at: float) -> list[Reading]:
        ts = 0.0
        seq: int | None = None
        fields: dict[str, Scalar] = {}
        extra: dict[str, Any] = {}
        frozen: list[tuple[float, float]] | None = None
        for name, value in items:
            if name == "ts":
                ts = _epoch(value)
            elif name == "seq":
                seq = value
            elif value is None:
                continue
            elif name == "frozen" and route.device_class is DeviceClass.WATER_METER:
                frozen = [(_epoch(f[0]), f[1]) for f in value]
            elif isinstance(value, bool | int | float | str):
                fields[name] = value
            elif isinstance(value, AnyUrl):
                fields[name] = str(value)
            else:
                extra[name] = _plain(value)
        return self._build(route, ts, seq, fields, extra, frozen, received_at)

    def _build(
        self,
        route: _Route,
        ts: float,
        seq: int | None,
        fields: dict[str, Scalar],
        extra: dict[str, Any],
        frozen: list[tuple[float, float]] | None,
        received_at: float,
    ) -> list[Reading]:
        now = self._clock.now()
        if not now - self.max_age_s <= ts <= now + self.max_future_s:
            self._check_time("ts", ts, now)
        current = _new_reading(route, ts, seq, fields, received_at, extra)
        if not frozen:
            return [current]
        readings: list[Reading] = []
        for i, (fts, volume) in enumerate(frozen):
            self._check_time(f"frozen[{i}].ts", fts, now)
            readings.append(_new_reading(route, fts, None, {"volume_m3": volume}, received_at, {"frozen": True}))
        readings.append(current)
        return readings

    def _check_time(self, name: str, ts: float, now: float) -> None:
        if ts > now + self.max_future_s:
            raise Refused(
                RefusalReason.TS_FUTURE,
                f"{name} {_iso(ts)} is {ts - now:.0f} s ahead of the ingester clock (max {self.max_future_s:g} s)",
            )
        if ts < now - self.max_age_s:
            raise Refused(
                RefusalReason.TS_PAST,
                f"{name} {_iso(ts)} is {now - ts:.0f} s old (max {self.max_age_s:g} s)",
            )


# --- helpers -------------------------------------------------------------------------------------------------


def _new_reading(
    route: _Route, ts: float, seq: int | None, fields: dict[str, Scalar], received_at: float, extra: dict[str, Any]
) -> Reading:
    return Reading(
        route.device_id,
        route.device_class,
        route.channel,
        ts,
        seq,
        fields,
        route.community_id,
        route.microgrid_id,
        route.building_id,
        route.household_id,
        received_at,
        extra,
    )


def _fast_nested(
    fields: dict[str, Any], nested: frozenset[str]
) -> tuple[list[tuple[float, float]] | None, dict[str, Any], int]:
    """Move nested values out of `fields`: a water meter's `frozen` readings, anything else to `extra`; and the
    pairs of quotes inside the nested values (`ingest.decode_fast.quote_pairs`)."""
    frozen = None
    extra: dict[str, Any] = {}
    pairs = 0
    for name in nested:
        value = fields.pop(name, None)
        if value is None:
            continue
        pairs += quote_pairs(value)
        if name == "frozen":
            frozen = [(device_epoch(f.ts), f.volume_m3) for f in value]
        else:
            extra[name] = msgspec.to_builtins(value)
    return frozen, extra, pairs


def _model_items(msg: BaseModel) -> Iterator[tuple[str, Any]]:
    for name in type(msg).model_fields:
        value = getattr(msg, name)
        if name == "frozen" and value is not None:
            value = [(f.ts, f.volume_m3) for f in value]
        yield name, value


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _plain(value: Any) -> Any:
    """Nested values as plain JSON-able data (they go to `Reading.extra`)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, AnyUrl):
        return str(value)
    return value


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{ts:g}"


def _short(text: str) -> str:
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p not in _LOC_NOISE and "[" not in p and "-" not in p:
            parts.append(("." if parts else "") + p)
    return "".join(parts) or "payload"


class _RepeatedKeyError(Exception):
    """Raised from inside `json.loads` at the first key an object repeats."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _RepeatedKeyError(key)
        seen.add(key)


def _repeated_key(payload: bytes) -> str | None:
    """The first key that an object of the JSON repeats (escapes decoded), if any; None for JSON without one and
    for what is not JSON at all (pydantic names that reason)."""
    try:
        json.loads(payload.decode("utf-8"), object_pairs_hook=_unique_pairs)
    except _RepeatedKeyError as e:
        return str(e.args[0])
    except (ValueError, RecursionError):
        return None
    return None


def _find_non_finite(payload: bytes) -> str | None:
    """The path of the first NaN/Infinity (or a number too large for a float) in the JSON, if any."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, float) and not math.isfinite(node):
            return path or "payload"
        if isinstance(node, dict):
            for k, v in node.items():
                found = walk(v, f"{path}.{k}" if path else str(k))
                if found:
                    return found
        elif isinstance(node, list):
            for i, v in enumerate(node):
                found = walk(v, f"{path}[{i}]")
                if found:
                    return found
        return None

    return walk(doc, "")


def _refusal(error: ValidationError, payload: bytes, model: type[Payload]) -> Refused:
    """Translate pydantic's verdict into one reason, most specific first."""
    errors = error.errors(include_url=False, include_context=False, include_input=False)
    types = {e["type"] for e in errors}
    if "json_invalid" in types:
        msg = next(e["msg"] for e in errors if e["type"] == "json_invalid")
        return Refused(RefusalReason.MALFORMED_JSON, _short(msg))
    if any(e["type"] in ("model_type", "model_attributes_type") and not e["loc"] for e in errors):
        return Refused(RefusalReason.NOT_AN_OBJECT, "payload must be a JSON object")
    finite = [e for e in errors if e["type"] == "finite_number"]
    if finite:
        return Refused(RefusalReason.NON_FINITE, f"{_loc(finite[0]['loc'])}: NaN and Infinity are not numbers")
    bad = _find_non_finite(payload)
    if bad is not None:
        return Refused(RefusalReason.NON_FINITE, f"{bad}: NaN and Infinity are not numbers")
    if types == {"extra_forbidden"}:
        names = ", ".join(sorted({_loc(e["loc"]) for e in errors}))
        return Refused(RefusalReason.UNKNOWN_FIELD, _short(f"unknown field(s) for {model.__name__}: {names}"))
    urls = [e for e in errors if e["type"].startswith("url_")]
    if urls:  # devices.payloads.MediaUrl: a scheme, credentials or host browsers and webhooks must not get
        msg = urls[0]["msg"].removeprefix("Value error, ")
        return Refused(RefusalReason.BAD_URL, _short(f"{_loc(urls[0]['loc'])}: {msg}"))
    first = next(e for e in errors if e["type"] != "extra_forbidden")
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    return Refused(RefusalReason.INVALID_PAYLOAD, _short(f"{_loc(first['loc'])}: {msg}{more}"))
