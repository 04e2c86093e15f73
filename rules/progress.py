"""Live progress: when a device's timers may fire on a live stream, before the watermark reaches them.

The watermark (newest device time minus the allowed lateness) is the same for every device and lags the
street by the lateness; it decides what a late message may still change. A timer that belongs to a device
may fire earlier, once that device's own time has passed it:
- its own later message proves it (`Engine.process`): messages of one device arrive in order;
- or the service clock says so: the device's clock is the service clock minus its observed offset
  (`received_at - ts`, see `LiveTimers`), and the timer fires once that passes its due time plus a slack for
  the transport of a message still on its way (`Engine.advance_live`).

Timers of households (absence, learned inactivity) deferred to the end of quiet hours belong to the household's
first meter: its readings proved the absence, and its time says when the deferral is over.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

Timer = tuple[float, int, str, str]
"""(due, sequence number, rule id, key): an entry of the engine's timer heap."""
Fire = Callable[[Timer], None]

NEVER = float("-inf")

_KEEP_OFFSET_S = 0.1
"""Clock offsets at least this large are saved with the engine's state (`LiveTimers.dump_offsets`)."""

OFFSET_WINDOW_S = 600.0
"""How long a device's smallest offset is kept (between one and two windows): a clock set back is believed
after that long at most."""


class _Device:
    """What live progress keeps of one device: its clock offset's window and its timers."""

    __slots__ = ("end", "low", "prev", "timers")

    def __init__(self) -> None:
        self.low = 0.0  # the smallest `received_at - ts` of the current window
        self.prev = 0.0  # ... of the previous one
        self.end = NEVER  # when the current window ends (NEVER: never heard, offset 0)
        self.timers: list[Timer] = []  # a heap by due


class LiveTimers:
    """The engine's timers that belong to a device, by device, and the devices by the service-clock moment
    their next timer may fire (`queue`: due + offset + slack). Each timer is also on the engine's event-time
    heap; one that fires here is put in `fired`, so the heap passes over it when the watermark reaches it, and
    one the watermark fired first is dropped here (its due is at or before the watermark). An offset that
    changed after a device was queued is looked at again when it comes up: a device found further behind is
    queued again, one found further ahead fires late by the difference at most (or at its own next message).

    A device's clock offset (how far its clock lags the service clock) is the smallest `received_at - ts` of
    the current and the previous window of `OFFSET_WINDOW_S`. Transport delay only ever adds to a sample, so
    the smallest one is the clock difference plus the quickest transport seen (a slow message never makes a
    device look behind); a device whose clock was set back (samples grow for good) is believed within two
    windows. An offset below `-max_future_s` (further ahead than the ingester accepts) counts as that; a device
    never heard has offset 0 (its clock is taken to be the service's)."""

    __slots__ = ("_floor", "devices", "fired", "next", "queue", "slack")

    def __init__(self, slack_s: float, max_future_s: float) -> None:
        self.slack = slack_s
        self._floor = -max_future_s
        self.devices: dict[str, _Device] = {}
        self.queue: list[tuple[float, str]] = []  # (service-clock moment, device), a heap
        self.next: dict[str, float] = {}  # device -> its moment in `queue` (older entries there are stale)
        self.fired: set[int] = set()  # sequence numbers of timers fired here and still on the event-time heap

    # --- clock offsets ----------------------------------------------------------------------------------------

    def offset(self, device_id: str) -> float:
        d = self.devices.get(device_id)
        return 0.0 if d is None else self._offset(d)

    def _offset(self, d: _Device) -> float:
        off = d.low if d.low < d.prev else d.prev
        return off if off > self._floor else self._floor

    def dump_offsets(self) -> dict[str, float]:
        """The offsets worth keeping: one under `_KEEP_OFFSET_S` (a clock in sync, the transport quick) is taken
        as 0 after a restart anyway, and a street of such devices keeps its snapshot as it was."""
        out: dict[str, float] = {}
        floor = self._floor
        keep = _KEEP_OFFSET_S
        for device_id, d in self.devices.items():  # `_offset` inline: a district has 200,000 devices
            low, prev = d.low, d.prev
            off = low if low < prev else prev
            if off < floor:
                off = floor
            if (off >= keep or off <= -keep) and d.end > NEVER:
                out[device_id] = round(off, 3)
        return out

    def load_offsets(self, offsets: dict[str, float]) -> None:
        """Offsets saved with `dump_offsets`: the first sample after a restart opens a new window, so a backlog
        the broker kept meanwhile (old device times received late) does not make the device look behind."""
        for device_id, off in offsets.items():
            d = self.devices.get(device_id)
            if d is None:
                d = self.devices[device_id] = _Device()
            d.low = d.prev = off
            d.end = 0.0

    # --- timers ---------------------------------------------------------------------------------------------

    def on_message(self, device_id: str, received_at: float, ts: float, watermark: float, fire: Fire) -> None:
        """A message of the device dated `ts`, received at `received_at` (0: unknown): its offset sample, then
        its own progress: its messages arrive in order, so its timers due at or before `ts` fire (`fire_own`)."""
        d = self.devices.get(device_id)
        if d is None:
            d = self.devices[device_id] = _Device()
        if received_at > 0:
            sample = received_at - ts
            if received_at >= d.end:
                d.prev = d.low if d.end > NEVER else sample
                d.low = sample
                d.end = received_at + OFFSET_WINDOW_S
            elif sample < d.low:
                d.low = sample
        h = d.timers
        if h and h[0][0] <= ts:
            self.fire_own(device_id, ts, watermark, fire)

    def reset(self) -> None:
        """Forget every timer (the engine rebuilds its heap); offsets stay."""
        for d in self.devices.values():
            d.timers = []
        self.queue = []
        self.next = {}
        self.fired = set()

    def add(self, timer: Timer, owner: str) -> None:
        d = self.devices.get(owner)
        if d is None:
            d = self.devices[owner] = _Device()
        h = d.timers
        heapq.heappush(h, timer)
        if h[0] is timer:
            self._queue(owner, d, timer[0])

    def _queue(self, owner: str, d: _Device, due: float) -> None:
        off = d.low if d.low < d.prev else d.prev  # `_offset`, inline: every timer set comes here
        if off < self._floor:
            off = self._floor
        at = due + (off + self.slack)  # as `fire_by_clock` compares, to the last bit
        current = self.next.get(owner)
        if current is None or at < current:
            self.next[owner] = at
            heapq.heappush(self.queue, (at, owner))

    def next_at(self) -> float | None:
        """The service-clock moment the next device may have a timer to fire (None: no timer)."""
        return self.queue[0][0] if self.queue else None

    def fire_by_clock(self, now: float, watermark: float, fire: Fire) -> None:
        """`fire` each timer whose device's time has passed it by the service clock `now`: due + offset + slack
        at or before `now`. A device's timers go in due order, those `fire` sets meanwhile included."""
        q = self.queue
        nxt = self.next
        devices = self.devices
        fired = self.fired
        while q and q[0][0] <= now:
            at, owner = heapq.heappop(q)
            if nxt.get(owner) != at:
                continue  # superseded by an earlier moment, already handled
            del nxt[owner]
            d = devices[owner]
            h = d.timers
            lag = self._offset(d) + self.slack
            while h and h[0][0] + lag <= now:
                t = heapq.heappop(h)
                if t[0] > watermark:
                    fired.add(t[1])
                    fire(t)
            if h:
                self._queue(owner, d, h[0][0])  # later than `now`: this loop does not meet the device again

    def fire_own(self, owner: str, upto: float, watermark: float, fire: Fire) -> None:
        """`fire` the device's timers due at or before `upto`, its own time (a message of it dated then)."""
        d = self.devices.get(owner)
        if d is None:
            return
        h = d.timers
        fired = self.fired
        while h and h[0][0] <= upto:
            t = heapq.heappop(h)
            if t[0] > watermark:
                fired.add(t[1])
                fire(t)
        if h:
            self._queue(owner, d, h[0][0])
