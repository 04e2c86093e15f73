"""The one exception hierarchy of `ingest`. Errors of gmqtt, sqlite3 and the sinks are translated into these
at the module that talks to them, so callers catch `IngestError` and never a dependency's exception."""

from __future__ import annotations

from core.errors import CwatchError


class IngestError(CwatchError):
    """Base of every error raised by the ingest package."""


class IngestConfigError(IngestError):
    """The ingest configuration is invalid (unknown sink, bad broker address, ...)."""


class TransportError(IngestError):
    """The MQTT broker could not be reached or refused the connection."""


class SpoolError(IngestError):
    """The durable spool could not be read or written (disk error, corrupt file)."""


class SpoolFullError(SpoolError):
    """Appending would grow the spool past `max_bytes`; the caller must wait for consumers to drain it."""

    def __init__(self, size_bytes: int, max_bytes: int) -> None:
        super().__init__(f"spool holds {size_bytes} bytes, limit is {max_bytes}")
        self.size_bytes = size_bytes
        self.max_bytes = max_bytes


class SpoolClosedError(SpoolError):
    """The spool was used after `close()`."""
