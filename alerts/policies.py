"""Escalation policies: who is told of a ticket, by which channel, and how long each step waits. Loading them
from YAML with file:line errors, and the holder that hot-reloads them.

A policy file (`policies.yaml`, beside the rules file) lists policies; a ticket follows the first whose `match`
fits it (its severity, its rule, its group of rules), so the last policy must match every ticket. A policy is a
list of steps: step 0 is told when the ticket is created; when a step's `wait` passes without anyone accepting
(or a resolve deadline is missed), the next step with anyone to tell is told; after the last step, its people
are reminded every `wait`. Steps whose targets are nobody at the time (no family, no leader) are skipped. A step
without `wait` waits the SLA's acknowledge time of the ticket (`alerts.sla`), which is how the packaged default,
today's ladder up the grid, is written. Also per policy: reminders to the current step until someone accepts
(`remind_every`), what happens when an accepted ticket is not started in time (`ack_timeout`,
`ack_timeout_action`), and an all-clear to everyone told once the ticket is resolved or withdrawn.

Loading refuses the whole file on any problem (the running policies stay), naming every problem with its line;
docs/notifications.md describes the format. Pure, except `load_policies` and `PolicyHolder`, which read files."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Collection, Iterator
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.errors import PolicyConfigError
from alerts.model import Ticket
from alerts.notices import PREFERRED
from core.yamlspots import Lines, Problem, ordered, validation_problems, yaml_problem
from devices.model import ChannelKind
from rules.alert import Alert, Severity
from rules.durations import Duration

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class Target(StrEnum):
    """Whom a step tells."""

    WORKER_ON_DUTY = "worker_on_duty"  # the ticket's assignee: the worker on duty when it came (or given to)
    MICROGRID_LEADER = "microgrid_leader"
    GRID = "grid"  # the people of the grid above the micro-grid
    FAMILY = "family"  # the household's family members who consented to be contacted (contacts.csv)
    COMMUNITY_DUTY = "community_duty"  # the people at the community (duty officers first)
    STREET_DUTY = "street_duty"  # the people at the street (duty officers first)


CHANNELS = frozenset({PREFERRED, *(k.value for k in ChannelKind)})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    """Tell `targets` by `channel` and wait `wait` for someone to accept. `channel` is `preferred` (each
    person's own channels in their order), one channel kind, or a list tried in order: the first kind that has
    a provider configured and a contact point of the recipient (`[voice, sms, preferred]`: a call where a voice
    provider is set up, a text otherwise, and the person's own channels when neither reaches them)."""

    targets: list[Target] = Field(min_length=1)
    channel: list[str] = Field(default_factory=lambda: [PREFERRED], min_length=1)
    wait: Duration | None = Field(default=None, gt=0)

    @field_validator("channel", mode="before")
    @classmethod
    def _one_or_more(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("channel")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [c for c in v if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r} (one of {', '.join(sorted(CHANNELS))})")
        if PREFERRED in v[:-1]:
            raise ValueError("preferred comes last: it means each person's own channels, whatever their kind")
        if len(set(v)) != len(v):
            raise ValueError("a channel is named twice")
        return v

    @property
    def channel_spec(self) -> str:
        """The channel as a notice carries it: kinds joined by commas, in order."""
        return ",".join(self.channel)


class Match(_Strict):
    """Which tickets a policy is for; every given key must fit (a missing key fits any ticket)."""

    severity: list[Severity] | None = Field(default=None, min_length=1)
    rules: list[str] | None = Field(default=None, min_length=1)
    groups: list[str] | None = Field(default=None, min_length=1)

    @field_validator("severity", mode="before")
    @classmethod
    def _one_severity(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    def fits(self, severity: Severity, rule_id: str, group: str | None) -> bool:
        if self.severity is not None and severity not in self.severity:
            return False
        if self.rules is not None and rule_id not in self.rules:
            return False
        return self.groups is None or group in self.groups


class Policy(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    match: Match | None = None
    steps: list[Step] = Field(min_length=1, max_length=10)
    remind_every: Duration | None = Field(default=None, gt=0)
    ack_timeout: Duration | None = Field(default=None, gt=0)
    ack_timeout_action: Literal["escalate", "remind"] = "escalate"
    all_clear: bool = False

    @model_validator(mode="after")
    def _action_needs_timeout(self) -> Policy:
        if "ack_timeout_action" in self.model_fields_set and self.ack_timeout is None:
            raise ValueError("ack_timeout_action needs ack_timeout (how long an accepted ticket may wait)")
        return self

    def targets(self, step: int) -> list[Target]:
        return list(self.steps[step].targets) if 0 <= step < len(self.steps) else []


#: Today's ladder up the grid (`alerts.dispatch`): the catch-all of the packaged policies.
LADDER = Policy(
    name="ladder",
    steps=[
        Step(targets=[t])
        for t in (
            Target.WORKER_ON_DUTY,
            Target.MICROGRID_LEADER,
            Target.GRID,
            Target.COMMUNITY_DUTY,
            Target.STREET_DUTY,
        )
    ],
)


class PolicySet(_Strict):
    policies: list[Policy] = Field(min_length=1)
    source: str | None = None

    def for_ticket(self, ticket: Ticket) -> Policy:
        """The first policy whose match fits `ticket` (loading checked that the last one fits all)."""
        return self.find(ticket.severity, ticket.rule_id, group_of(ticket))

    def for_alert(self, alert: Alert) -> Policy:
        """The policy of the ticket `alert` would open."""
        group = alert.group.partition(":")[0] if alert.group else None
        return self.find(alert.severity, alert.rule_id, group)

    def find(self, severity: Severity, rule_id: str, group: str | None) -> Policy:
        for p in self.policies:
            if p.match is None or p.match.fits(severity, rule_id, group):
                return p
        return self.policies[-1]

    def by_name(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def group_of(ticket: Ticket) -> str | None:
    """The group of rules a ticket is for (its key is `group:target`), None for a lone rule's ticket."""
    prefix = ticket.dedup_key.partition(":")[0]
    return None if prefix == ticket.rule_id else prefix


# --- loading --------------------------------------------------------------------------------------------------


def default_policies_path() -> Path:
    return Path(str(resources.files("alerts").joinpath("default_policies.yaml")))


def load_policies(
    path: Path, *, rules: Collection[str] | None = None, groups: Collection[str] | None = None
) -> PolicySet:
    """Read and check `path`; `PolicyConfigError` names every problem. `rules` and `groups`, when given, are
    the rule ids and groups of the rule set: a policy naming another is refused (a typo would match nothing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyConfigError([f"{path.name}:?: cannot read policy file: {e}"]) from None
    return parse_policies(text, name=path.name, rules=rules, groups=groups)


def parse_policies(
    text: str,
    *,
    name: str = "<policies>",
    rules: Collection[str] | None = None,
    groups: Collection[str] | None = None,
) -> PolicySet:
    """`load_policies` for text in memory."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PolicyConfigError(ordered(name, [yaml_problem(e)])) from None
    lines = Lines(root)
    if not isinstance(data, dict):
        raise PolicyConfigError(ordered(name, [(1, "the file must be a mapping with a 'policies' list")]))
    if "source" in data:
        raise PolicyConfigError(ordered(name, [(lines.find(("source",))[0], "unknown field 'source'")]))
    try:
        ps = PolicySet.model_validate(data)
    except ValidationError as e:
        raise PolicyConfigError(ordered(name, _problems(e, lines))) from None
    problems = list(_check(ps, lines, rules, groups))
    if problems:
        raise PolicyConfigError(ordered(name, problems))
    return ps.model_copy(update={"source": name})


def _problems(e: ValidationError, lines: Lines) -> list[Problem]:
    """Pydantic's errors with their lines; a value that is not one of a choice is named ('boss': ...)."""
    out = []
    for (line, reason), err in zip(validation_problems(e, lines), e.errors(), strict=True):
        if err.get("type") in ("enum", "literal_error") and isinstance(err.get("input"), str):
            path, _, why = reason.rpartition(": ")
            reason = f"{path}: {err['input']!r} is not known: {why}" if path else f"{err['input']!r}: {why}"
        out.append((line, reason))
    return out


def _check(
    ps: PolicySet, lines: Lines, rules: Collection[str] | None, groups: Collection[str] | None
) -> Iterator[Problem]:
    def problem(where: tuple[str | int, ...], reason: str) -> Problem:
        line, path = lines.find(("policies", *where))
        return line, f"{path}: {reason}"

    seen: dict[str, int] = {}
    for i, p in enumerate(ps.policies):
        if p.name in seen:
            yield problem((i, "name"), f"duplicate policy name {p.name!r} (first at policies[{seen[p.name]}])")
        seen.setdefault(p.name, i)
        for j, step in enumerate(p.steps):
            if len(set(step.targets)) != len(step.targets):
                yield problem((i, "steps", j, "targets"), "a target is named twice")
            if Target.FAMILY in step.targets and len(step.targets) == 1 and j == len(p.steps) - 1:
                yield problem((i, "steps", j), "the last step tells only the family: add a step for a worker")
        if p.remind_every is not None:
            for j, step in enumerate(p.steps):
                if step.wait is not None and p.remind_every >= step.wait:
                    yield problem(
                        (i, "remind_every"),
                        f"remind_every must be shorter than steps[{j}].wait (a reminder after the next step told)",
                    )
                    break
        if p.match is not None:
            for key, known in (("rules", rules), ("groups", groups)):
                named = getattr(p.match, key)
                if named is None or known is None:
                    continue
                for k, v in enumerate(named):
                    if v not in known:
                        yield problem((i, "match", key, k), f"no {key[:-1]} {v!r} in the rule set")
        if p.match is None and i != len(ps.policies) - 1:
            yield problem((i, "name"), "a policy without match fits every ticket: the policies after it never apply")
    if ps.policies[-1].match is not None:
        yield problem(
            (len(ps.policies) - 1, "match"), "the last policy must have no match, so that every ticket has a policy"
        )


@functools.cache
def default_policies() -> PolicySet:
    """The packaged policies (`default_policies.yaml`): today's ladder, family first, critical calls."""
    return load_policies(default_policies_path())


def digest_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class PolicyHolder:
    """The policies in force, reloaded when the file's content changes (`maybe_reload`, called by the
    escalation loop). A bad file is logged with every problem and kept out: the running policies stay, and the
    same bad content is not reported again."""

    def __init__(
        self,
        path: Path,
        *,
        rules: Collection[str] | None = None,
        groups: Collection[str] | None = None,
        on_reload: Callable[[Path, str, int], None] | None = None,
    ) -> None:
        self.path = path
        #: told (path, sha-256 of the new content, number of policies) after each reload that took (the audit log)
        self.on_reload = on_reload
        self.rules = rules
        self.groups = groups
        self.current = load_policies(path, rules=rules, groups=groups)
        self._digest = digest_of(path)
        self.reloads = 0
        self.last_error: PolicyConfigError | None = None

    def __call__(self) -> PolicySet:
        return self.current

    def maybe_reload(self) -> bool:
        digest = digest_of(self.path)
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            ps = load_policies(self.path, rules=self.rules, groups=self.groups)
        except PolicyConfigError as e:
            self.last_error = e
            for p in e.problems:
                log.error("policy file not reloaded (the running policies stay): %s", p)
            return False
        self.current = ps
        self.last_error = None
        self.reloads += 1
        log.info("policies reloaded from %s: %s", self.path, ", ".join(p.name for p in ps.policies))
        if self.on_reload is not None:
            self.on_reload(self.path, digest, len(ps.policies))
        return True
