"""MQTT topic names of protocol v1: `cw/{community_id}/{device_id}/{channel}`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devices.errors import DevicesError
from devices.payloads import Channel

PREFIX = "cw"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
_ID = re.compile(ID_PATTERN)
SUBSCRIPTION = f"{PREFIX}/+/+/+"


class TopicError(DevicesError, ValueError):
    """The topic does not follow protocol v1. Also a ValueError, as it was before `devices.errors` existed."""


@dataclass(frozen=True, slots=True)
class Topic:
    community_id: str
    device_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{PREFIX}/{self.community_id}/{self.device_id}/{self.channel.value}"


def topic_for(community_id: str, device_id: str, channel: Channel | str) -> str:
    return f"{PREFIX}/{community_id}/{device_id}/{Channel(channel).value}"


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise TopicError(f"topic {topic!r} is not cw/{{community}}/{{device}}/{{channel}}")
    _, community_id, device_id, channel = parts
    for what, value in (("community id", community_id), ("device id", device_id)):
        if not _ID.fullmatch(value):
            raise TopicError(f"{what} {value!r} in topic is not a valid id")
    try:
        ch = Channel(channel)
    except ValueError:
        raise TopicError(f"channel {channel!r} is not one of telemetry, event, status") from None
    return Topic(community_id, device_id, ch)
