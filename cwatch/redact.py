"""Secrets kept out of what is shown: URLs with their password replaced, for log lines and messages."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def url(value: str) -> str:
    """`value` with the password of its user part replaced by `***` (`mqtt://ingest:***@broker:1883`); a URL
    without one, or text that is no URL, comes back unchanged."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return value
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
