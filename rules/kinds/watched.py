"""What the rules about watched households' water use share (absence, learned inactivity): the watched
households in scope and their meters, the meters' registers, and judgements deferred to a later time."""

from __future__ import annotations

from typing import Any

from devices.model import DeviceClass
from devices.payloads import Channel
from rules.config import Rule
from rules.emit import Emitter
from rules.kinds.base import NEVER, Context, Evaluator
from rules.kinds.water import UseTracker
from rules.schedule import Schedule
from rules.scope import households_in


class WatchedMeters(Evaluator):
    """Base of the evaluators that judge a watched household (a lone elderly resident who consented) from its
    water meters. `armed[h]`: when a judgement deferred to the end of the household's quiet hours is due; it
    fires through `on_timer`, which asks the subclass's `_judge` with what the meters have proven.

    The timer belongs to the household's first meter: on a live stream it fires once that meter's time has
    passed it (`rules.progress`), not five minutes later when the watermark does; the meters' readings have
    already proven the absence, only the clock was awaited."""

    def __init__(self, rule: Rule, emitter: Emitter, schedule: Schedule | None) -> None:
        super().__init__(rule, emitter, schedule)
        self.classes = frozenset({DeviceClass.WATER_METER})
        self.channels = frozenset({Channel.TELEMETRY})
        self.use = UseTracker()
        self.armed: dict[str, float] = {}
        self.meters: dict[str, list[str]] = {}  # household -> its water meters
        self.home: dict[str, str] = {}  # meter -> its household
        self.birth = NEVER

    def rescope(self, ctx: Context) -> None:
        reg = ctx.registry
        self.households = [h for h in households_in(self.rule.scope, reg) if reg.households[h].care.watched]
        self.meters = {
            h: [d.id for d in reg.devices_of_household(h) if d.device_class is DeviceClass.WATER_METER]
            for h in self.households
        }
        self.home = {m: h for h, ms in self.meters.items() for m in ms}
        self.devices = frozenset(self.home)

    def reset_timers(self) -> None:
        """Keep `armed`: a judgement deferred to the end of quiet hours is state, not a cache. It must survive a
        restart, a registry change or a rule reload even when the meter says nothing more; `start` pushes it
        onto the engine's new timer heap."""

    def clocks(self) -> dict[str, float]:
        """Each household's clock that `start` times from the birth (the subclass's own)."""
        raise NotImplementedError

    def backdate(self, households: set[str], t: float) -> None:
        """Time `households`' clocks from `t` when that is earlier: their readings since `t` come next."""
        clocks = self.clocks()
        for h in households & clocks.keys():
            clocks[h] = min(clocks[h], t)

    def _start_clocks(self, ctx: Context, birth: float, clocks: dict[str, float]) -> None:
        """`start`: households never heard from are timed from `birth`; deferred judgements are re-armed."""
        self.birth = birth
        for h in self.households:
            clocks.setdefault(h, birth)
        for h, at in self.armed.items():
            ctx.timer(at, self.id, h, self._owner(h))

    def _owner(self, h: str) -> str | None:
        """The device whose time a deferred judgement of `h` waits for (live progress): its first meter."""
        meters = self.meters.get(h)
        return meters[0] if meters else None

    def _set_timer(self, ctx: Context, h: str, at: float) -> None:
        self.armed[h] = at
        ctx.timer(at, self.id, h, self._owner(h))

    def on_timer(self, key: str, due: float, ctx: Context) -> None:
        h = key
        if self.armed.get(h) != due:
            return  # superseded: re-armed for another time, or judged meanwhile
        del self.armed[h]
        meters = self.meters.get(h)
        if meters is None:
            return
        data = self.use.newest(meters)
        if data is not None:
            # fired by the watermark, or on a live stream by the meter's own time: either way `due` has passed
            self._judge(ctx, h, data, max(ctx.watermark, due))

    def _judge(self, ctx: Context, h: str, proven: float, upto: float) -> None:
        """Judge `h` now that its meters prove no use until `proven`; raise dated at or before `upto`."""
        raise NotImplementedError

    def dump(self) -> dict[str, Any]:
        d = super().dump()
        d.update(use=self.use.dump(), armed=self.armed)
        return d

    def load(self, data: dict[str, Any]) -> None:
        super().load(data)
        self.use.load(data.get("use", {}))
        self.armed = {str(k): float(v) for k, v in data.get("armed", {}).items()}
