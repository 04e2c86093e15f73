"""A fast *accept-only* path for payload validation: msgspec structs generated from the pydantic models.

The pydantic models in `devices.payloads` stay the source of truth. The structs mirror them field by field
(types, ranges, lengths, literals, unknown fields forbidden); `ts` strings go through the very validator the models
use (`device_epoch`). Models with anything the structs cannot mirror exactly (URLs, lax mode, other validators)
get no fast path. Whatever the fast path does not accept goes to pydantic, which decides and names the reason, so
the fast path can only ever make acceptance faster (a 130-byte message decodes in ~3 µs instead of ~8 µs
through pydantic), never change a verdict.
`tests/ingest/test_decode_fast.py` checks that on the examples and on hypothesis-generated payloads.

msgspec, like pydantic, lets the last of two equal keys win; the protocol refuses such a payload. The fast path
proves a payload free of repeated keys by counting its double quotes: every key and every string brings two, so
a payload with no more quotes than the keys and strings its decoded struct holds has no key twice. Whatever
breaks the count (a key twice, an escaped quote in a string, an explicit `null`) only adds quotes and sends the
payload to pydantic, never through. To count present keys, every optional field decodes to None when absent (a key
sent with its default value, `"state": "heartbeat"`, is then still present; `FastModel.defaults` fills the defaults
in), and a model with a field whose value may be a string or not (other than `ts`) gets no fast path.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import msgspec
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from devices import payloads

# The protocol's `ts` parser, used by the models as a before-validator. Looked up softly: if it is renamed, the
# models that use it simply get no fast path (see `_mirrored_validators`) instead of breaking the import.
_device_time: Callable[[Any], Any] | None = getattr(payloads, "_device_time", None)


class UnsupportedError(Exception):
    """The model uses a type the fast path does not mirror exactly; it gets no fast path."""


_SCALARS = (bool, int, float, str)


def _meta_kwargs(metadata: typing.Iterable[Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for m in metadata:
        if isinstance(m, FieldInfo):
            kw.update(_meta_kwargs(m.metadata))
        elif isinstance(m, at.Ge):
            kw["ge"] = m.ge
        elif isinstance(m, at.Le):
            kw["le"] = m.le
        elif isinstance(m, at.Gt):
            kw["gt"] = m.gt
        elif isinstance(m, at.Lt):
            kw["lt"] = m.lt
        elif isinstance(m, at.MinLen):
            kw["min_length"] = m.min_length
        elif isinstance(m, at.MaxLen):
            kw["max_length"] = m.max_length
        else:
            raise UnsupportedError(f"constraint {m!r}")
    return kw


def _convert(tp: Any, structs: dict[type[BaseModel], type[msgspec.Struct]]) -> Any:
    """Translate one pydantic annotation into an equally-or-more strict msgspec annotation."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *metadata = get_args(tp)
        kw = _meta_kwargs(metadata)
        if base is int and isinstance(kw.get("lt"), int):
            kw["le"] = kw.pop("lt") - 1  # msgspec takes int64 bounds only; `< 2**63` is `<= 2**63 - 1`
        inner = _convert(base, structs)
        return Annotated[inner, msgspec.Meta(**kw)] if kw else inner
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        converted = []
        for a in args:
            if a is type(None):
                converted.append(type(None))
                continue
            try:
                converted.append(_convert(a, structs))
            except UnsupportedError:
                # Drop members we cannot mirror (AwareDatetime in `ts`): the fast path refuses them and pydantic
                # decides. Only safe when another member stays, else the whole field is unsupported.
                if len([x for x in args if x is not type(None)]) == 1:
                    raise
        if not [c for c in converted if c is not type(None)]:
            raise UnsupportedError(f"union {tp!r}")
        return Union[tuple(converted)]  # noqa: UP007 - built at runtime
    if origin is Literal:
        if not all(isinstance(a, str) for a in get_args(tp)):
            raise UnsupportedError(f"literal {tp!r}")
        return tp
    if origin is list:
        (item,) = get_args(tp)
        return list[_convert(item, structs)]  # type: ignore[misc]
    if tp in _SCALARS:
        return tp
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return struct_for(tp, structs, nested=True)
    raise UnsupportedError(f"type {tp!r}")


def _mirrored_validators(model: type[BaseModel]) -> set[str]:
    """Fields whose only validator is the protocol's device-time parser, which the fast path calls itself
    (`device_epoch`). Any other validator means the struct could not know what pydantic would do."""
    decs = model.__pydantic_decorators__
    if decs.model_validators or decs.validators or decs.root_validators or decs.field_serializers:
        raise UnsupportedError(f"{model.__name__} has validators the fast path does not mirror")
    fields: set[str] = set()
    for dec in decs.field_validators.values():
        if dec.info.mode != "before" or _device_time is None or dec.func is not _device_time:
            raise UnsupportedError(f"{model.__name__} has validator {dec.cls_var_name}")
        fields.update(dec.info.fields)
    return fields


def _number_or_string(tp: Any, structs: dict[type[BaseModel], type[msgspec.Struct]]) -> Any:
    """`ts`: the union's number member as is, plus any string (checked afterwards by `device_epoch`)."""
    number = _convert(tp, structs)
    return Union[number, str]  # noqa: UP007 - built at runtime


def device_epoch(value: float | str) -> float:
    """`ts` as decoded by the fast path, as epoch seconds: numbers are already range-checked by the struct;
    strings go through the very function the pydantic models use. Raises ValueError as that function does."""
    if isinstance(value, str):
        if _device_time is None:  # pragma: no cover - no model is mirrored then, so no string reaches here
            raise ValueError("no device-time parser")
        dt = _device_time(value)
        if dt.tzinfo is None:  # cannot happen (the pattern wants an offset); mirrors AwareDatetime anyway
            raise ValueError("ts has no offset")
        return float(dt.timestamp())
    return value


def struct_for(
    model: type[BaseModel], structs: dict[type[BaseModel], type[msgspec.Struct]] | None = None, *, nested: bool = False
) -> type[msgspec.Struct]:
    """A msgspec Struct mirroring `model` (unknown fields forbidden); every optional field defaults to None, and
    `FastModel.defaults` holds the others. Raises UnsupportedError."""
    structs = {} if structs is None else structs
    if model in structs:
        return structs[model]
    if model.model_config.get("extra") != "forbid" or model.model_config.get("allow_inf_nan", True):
        raise UnsupportedError(f"{model.__name__} must forbid extra fields and non-finite numbers")
    if model.model_config.get("strict") is not True:
        raise UnsupportedError(f"{model.__name__} is lax; only strict models are mirrored")
    validated = _mirrored_validators(model)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, info in model.model_fields.items():
        if info.alias not in (None, name):
            raise UnsupportedError(f"{model.__name__}.{name} has an alias")
        tp = info.annotation
        kw = _meta_kwargs(info.metadata)
        conv = _number_or_string(tp, structs) if name in validated else _convert(tp, structs)
        if kw:
            conv = Annotated[conv, msgspec.Meta(**kw)]
        if info.is_required():
            fields.append((name, conv))
        else:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, list | dict):
                raise UnsupportedError(f"{model.__name__}.{name} has a mutable default")
            if nested and default is not None:
                raise UnsupportedError(f"{model.__name__}.{name}: nested models' defaults are not filled in")
            # absent reads as None, even where the type admits no null (a null sent is refused): the key count
            # must tell an absent field from one sent with its default value; `FastModel.defaults` has them
            fields.append((name, conv, None))
    struct = msgspec.defstruct(f"Fast{model.__name__}", fields, forbid_unknown_fields=True, frozen=True, kw_only=True)
    structs[model] = struct
    return struct


def _is_nested(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Annotated:
        return _is_nested(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return any(_is_nested(a) for a in get_args(tp))
    return origin is list or (isinstance(tp, type) and issubclass(tp, BaseModel))


def _text_kind(tp: Any) -> str:
    """Whether a field's values are always strings ("str"), never ("other"), or either ("mixed")."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _text_kind(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        kinds = {_text_kind(a) for a in get_args(tp) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "mixed"
    return "str" if tp is str or origin is Literal else "other"


def quote_pairs(value: Any) -> int:
    """The pairs of double quotes inside a decoded nested value, as JSON without repeated keys, escaped quotes or
    explicit nulls writes it: one per string, and one per key of a struct that is present (not None)."""
    if value.__class__ is str:
        return 1
    if isinstance(value, list):
        return sum(quote_pairs(v) for v in value)
    if isinstance(value, msgspec.Struct):
        vals = msgspec.structs.astuple(value)
        return sum(v is not None for v in vals) + sum(quote_pairs(v) for v in vals)
    return 0


@dataclass(frozen=True, slots=True)
class FastModel:
    """The fast path of one payload model: `decoder.decode(payload)` gives a struct whose fields are `ts`,
    `seq`, then `names` in order; `nested` are the names holding lists or structs rather than scalars;
    `strings` the names whose values are strings; `defaults` the defaults other than None, which the struct
    leaves out (an absent field decodes to None).
    Decoded `ts` values (top level and nested) are `float | str`: pass them through `device_epoch`."""

    decoder: msgspec.json.Decoder[Any]
    names: tuple[str, ...]
    nested: frozenset[str]
    strings: frozenset[str]
    defaults: dict[str, Any]


def fast_decoder(model: type[BaseModel]) -> FastModel | None:
    """The fast path of `model`, or None when the model has anything it cannot mirror."""
    try:
        struct = struct_for(model)
    except UnsupportedError:
        return None
    if struct.__struct_fields__[:2] != ("ts", "seq"):
        return None
    names = struct.__struct_fields__[2:]
    info = model.model_fields
    kinds = {n: _text_kind(info[n].annotation) for n in names}
    if "mixed" in kinds.values():
        return None
    nested = frozenset(n for n in names if _is_nested(info[n].annotation))
    defaults = {
        n: info[n].get_default(call_default_factory=True)
        for n in names
        if not info[n].is_required() and info[n].get_default() is not None
    }
    strings = frozenset(n for n in names if kinds[n] == "str")
    return FastModel(msgspec.json.Decoder(struct), names, nested, strings, defaults)
