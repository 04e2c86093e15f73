"""The struct generator mirrors only what it can mirror exactly; anything else gets no fast path."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.payloads import CameraEvent, MediaUrl, SmokeTelemetry, StatusPayload
from ingest.decode_fast import FastModel, UnsupportedError, device_epoch, fast_decoder, struct_for

STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)


class Lax(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    x: float


class Extra(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)
    x: float


class OwnValidator(BaseModel):
    model_config = STRICT
    x: float

    @field_validator("x")
    @classmethod
    def _round(cls, v: float) -> float:
        return round(v)


class Aliased(BaseModel):
    model_config = STRICT
    x: float = Field(alias="X")


class Pattern(BaseModel):
    model_config = STRICT
    x: Annotated[str, Field(pattern="^a")]


@pytest.mark.parametrize("model", [Lax, Extra, OwnValidator, Aliased, Pattern])
def test_models_it_cannot_mirror_get_no_fast_path(model: type[BaseModel]) -> None:
    assert fast_decoder(model) is None
    with pytest.raises(UnsupportedError):
        struct_for(model)


def test_generated_struct_carries_the_constraints() -> None:
    fast = fast_decoder(SmokeTelemetry)
    assert isinstance(fast, FastModel)
    assert fast.names == ("smoke_obscuration_pct", "temperature_c", "battery_pct", "contamination_pct")
    assert fast.nested == frozenset()
    ok = fast.decoder.decode(b'{"ts": 1, "seq": 2, "smoke_obscuration_pct": 100}')
    assert msgspec.structs.astuple(ok) == (1.0, 2, 100.0, None, None, None)
    for bad in (
        b'{"ts": 1, "smoke_obscuration_pct": 100.5}',
        b'{"ts": 1, "smoke_obscuration_pct": 1, "x": 1}',
        b'{"ts": -1, "smoke_obscuration_pct": 1}',
        b'{"ts": 1, "seq": 9223372036854775808, "smoke_obscuration_pct": 1}',
        b'{"ts": true, "smoke_obscuration_pct": 1}',
    ):
        with pytest.raises(msgspec.ValidationError):
            fast.decoder.decode(bad)


def test_status_strings_keep_their_length_limits() -> None:
    fast = fast_decoder(StatusPayload)
    assert fast is not None
    fast.decoder.decode(('{"ts": 1, "firmware": "%s"}' % ("北" * 64)).encode())
    with pytest.raises(msgspec.ValidationError):
        fast.decoder.decode(('{"ts": 1, "firmware": "%s"}' % ("北" * 65)).encode())


def test_device_epoch_uses_the_models_parser() -> None:
    assert device_epoch(1.5) == 1.5
    assert device_epoch("2026-03-01T08:00:00+08:00") == 1_772_323_200.0
    assert device_epoch("2026-03-01T00:00:00Z") == 1_772_323_200.0
    with pytest.raises(ValueError, match="offset"):
        device_epoch("2026-03-01T08:00:00")


class Mixed(BaseModel):
    model_config = STRICT
    ts: float
    seq: int | None = None
    x: str | float  # a string or not: the quote count could not say how many strings the payload holds


class Inner(BaseModel):
    model_config = STRICT
    flag: bool = False  # absent reads as None in the struct, and a nested default is not filled in


class Outer(BaseModel):
    model_config = STRICT
    ts: float
    seq: int | None = None
    inner: Inner | None = None


@pytest.mark.parametrize("model", [Mixed, Outer])
def test_models_whose_keys_it_cannot_count_get_no_fast_path(model: type[BaseModel]) -> None:
    assert fast_decoder(model) is None


def test_absent_fields_decode_to_none_and_their_defaults_are_kept_aside() -> None:
    fast = fast_decoder(StatusPayload)
    assert isinstance(fast, FastModel)
    assert fast.defaults == {"state": "heartbeat"}
    assert fast.strings == {"state", "firmware", "detail"}
    absent = msgspec.structs.astuple(fast.decoder.decode(b'{"ts": 1}'))
    assert absent == (1.0, None, None, None, None, None, None)


class WithMediaUrl(BaseModel):
    model_config = STRICT
    ts: float
    seq: int | None = None
    snapshot_url: MediaUrl | None = None


def test_media_urls_get_no_fast_path() -> None:
    """A media URL's scheme and host checks (`devices.payloads.MediaUrl`) live in validators the structs cannot
    mirror: a model with one leaves every verdict to pydantic, which refuses `javascript:` with `bad_url`."""
    assert fast_decoder(WithMediaUrl) is None
    assert fast_decoder(CameraEvent) is None
