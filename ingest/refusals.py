"""Why a message was refused. A refusal is data, not a crash: the message goes to the dead letters with one of
these reasons and a short human detail naming the field, and the ingester carries on."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from ingest.errors import IngestError


class RefusalReason(StrEnum):
    """Stable, metric-friendly names (they label `ingest_refused_total` and dead-letter rows)."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    WRONG_COMMUNITY = "wrong_community"  # device id in the topic is not registered under that community
    WRONG_CHANNEL = "wrong_channel"  # the device's class does not use that channel
    INVALID_PAYLOAD = "invalid_payload"  # wrong type, missing field, out of range, another class's fields
    UNKNOWN_FIELD = "unknown_field"
    BAD_URL = "bad_url"  # a media URL that is not http(s), carries credentials, or points at this machine/link
    DUPLICATE_KEY = "duplicate_key"  # a key given twice in one object: which value is meant is anyone's guess
    NON_FINITE = "non_finite"  # NaN / Infinity, which Python's json would happily accept
    TOO_LARGE = "too_large"
    TS_FUTURE = "ts_future"
    TS_PAST = "ts_past"
    RETAINED = "retained"  # a retained message is a stale snapshot, not a fresh observation
    SINK_REJECTED = "sink_rejected"  # decoded fine, but the database refused the point (set by the ingester)


DECODER_ERROR = "decoder_error"  # the decoder raised something other than Refused (a bug); set by the ingester

# The reasons `ingest.decode.Decoder` gives; the others are given downstream.
DECODER_REASONS = frozenset(RefusalReason) - {RefusalReason.SINK_REJECTED}
# Every reason a dead letter can carry (`cwatch deadletters --reason` takes one of these). A redelivered message
# the spool recognises as a duplicate is not among them: it is the protocol working (a resend after a lost
# PUBACK), only counted (`cwatch_ingest_duplicates_total`), so that a flaky link cannot fill the bounded dead-letter
# table with copies and push out the refusals an integrator needs to see.
DEADLETTER_REASONS: tuple[str, ...] = (*(r.value for r in RefusalReason), DECODER_ERROR)


class Refused(IngestError):  # noqa: N818 - the name is the shared contract
    """A message the ingester will not store. `detail` is short and names the offending field."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[Refused], tuple[RefusalReason, str]]:
        return (Refused, (self.reason, self.detail))


class RefusedMessage(NamedTuple):
    """A refused message or point on its way to the dead letters: where it came from, what it held, and why.
    `payload_size` is the original size when `payload` was cut short (None: `payload` is whole)."""

    topic: str
    payload: bytes
    reason: RefusalReason | str
    detail: str
    received_at: float
    payload_size: int | None = None
