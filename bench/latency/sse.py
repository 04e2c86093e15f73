"""A board's view of the service for `bench.latency`: the SSE stream of one account, in a thread.

Like the board (`alerts/board/board.js`), it reloads the active list when the stream says `resync` (it fell
behind) and when it reconnects. For every ticket it keeps the moment each event action was first seen, and
the moment the ticket was first on this board at all (by an event or a reload)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

PAGE = 500  # the board's page size


@dataclass(frozen=True, slots=True)
class Sighting:
    """A ticket as the board got it."""

    at: float
    ticket_id: int
    rule_id: str
    device_id: str | None
    action: str  # the event's action; "list" when it came from a reload
    alert_ts: float | None = None  # the event time of the alert the event records, when it records one


@dataclass
class Board:
    """What one account's board has received; written by its thread, read by the bench."""

    role: str
    sightings: list[Sighting] = field(default_factory=list)
    on_board: dict[int, float] = field(default_factory=dict)  # ticket id -> first seen
    resyncs: int = 0
    reloads_s: list[float] = field(default_factory=list)  # how long each reload took
    connected: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def first(self, rule_id: str, device_id: str, actions: frozenset[str], after: float) -> float | None:
        """When an event with one of `actions` about `device_id`'s `rule_id` ticket first arrived after `after`,
        recording an alert dated `after` or later (not an older one that a lagging service reports late)."""
        for s in self.sightings:
            dated = s.alert_ts is None or s.alert_ts >= after
            if s.at >= after and s.device_id == device_id and s.rule_id == rule_id and s.action in actions and dated:
                return s.at
        return None


class BoardClient:
    def __init__(self, base_url: str, token: str, role: str) -> None:
        self.board = Board(role)
        self._http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sse-{role}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._http.close()  # ends the stream's read
        self._thread.join(timeout=10)

    def _see(self, at: float, ticket: dict[str, Any], action: str, alert_ts: float | None = None) -> None:
        b = self.board
        tid = int(ticket["id"])
        b.sightings.append(Sighting(at, tid, ticket["rule_id"], ticket.get("device_id"), action, alert_ts))
        b.on_board.setdefault(tid, at)

    def _reload(self) -> None:
        t0 = time.time()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": "active", "limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            page = self._http.get("/api/v1/tickets", params=params).raise_for_status().json()
            now = time.time()
            for t in page["items"]:
                self._see(now, t, "list")
            cursor = page.get("next_cursor")
            if not cursor:
                break
        self.board.reloads_s.append(time.time() - t0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._http.stream("GET", "/api/v1/stream", timeout=httpx.Timeout(60, read=None)) as r:
                    r.raise_for_status()
                    self.board.connected.set()
                    self._reload()
                    self._read(r)
            except (httpx.HTTPError, RuntimeError) as e:
                if self._stop.is_set():
                    return
                self.board.error = f"{type(e).__name__}: {e}"
                time.sleep(0.5)  # the board's `retry` is 3 s; a bench reconnects sooner

    def _read(self, r: httpx.Response) -> None:
        name = ""
        for line in r.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "ticket":
                at = time.time()
                data = json.loads(line[5:])
                event = data["event"]
                self._see(at, data["ticket"], event["action"], (event.get("data") or {}).get("alert_ts"))
            elif line.startswith("data:") and name == "resync":
                self.board.resyncs += 1
                self._reload()
            elif not line:
                name = ""
