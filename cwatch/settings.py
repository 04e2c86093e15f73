"""One settings object for the whole service, read from a TOML file and `CWATCH_*` environment variables.

Environment variables override the file; nested keys use a double underscore (`CWATCH_MQTT__URL`). Unknown keys
are refused in both, because a misspelt key that is silently ignored is a setting that silently does not apply.
Errors name the file, line and key (`cwatch.toml:7: mqtt.clientid: unknown key`) or the environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.section import Section
from core.urls import AllowEntry, outbound_problem, parse_allow_entry
from cwatch.errors import SettingsError
from ingest.settings import IngestSettings, MqttSettings, TelemetrySettings

ENV_PREFIX = "CWATCH_"
#: CWATCH_ variables that are not settings: the config file path, a password for `accounts add`, the CLI's
#: language (`core.i18n.env_lang`).
NOT_SETTINGS = frozenset({"CWATCH_CONFIG", "CWATCH_NEW_PASSWORD", "CWATCH_LANG"})


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    metrics_token: str = Field(
        default="",
        description="Bearer token Prometheus sends for /metrics (at least 16 characters); empty: /metrics is off.",
    )

    @model_validator(mode="after")
    def _long_token(self) -> HttpSettings:
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ValueError("metrics_token needs at least 16 characters")
        return self


class StoreSettings(Section):
    url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in the data folder.")


class RulesSettings(Section):
    path: str = Field(default="", description="Rule file; empty uses the shipped default rule set.")
    policies_path: str = Field(
        default="",
        description="Escalation policy file (docs/notifications.md); empty: policies.yaml beside the rule file "
        "when there is one, else the shipped default (today's ladder, family first, critical calls).",
    )
    allowed_lateness_s: float = Field(
        default=300, ge=0, description="How late (device time) a message may still change what was decided."
    )
    sweep_every_s: float = Field(default=60, gt=0)
    checkpoint_every_s: float = Field(
        default=30,
        ge=0,
        description="How often the rule state is saved; the spool keeps what came since and hands it to the rules "
        "again after a restart (0: after every batch).",
    )
    live_slack_s: float = Field(
        default=1.0,
        ge=0,
        description="A device's timers fire this long after its clock passed them: a message of it still on its "
        "way (transport, spool) within this counts as in time.",
    )


class RegistrySettings(Section):
    path: str = Field(default="", description="CSV folder imported at start-up when set.")
    reload_every_s: float = Field(default=10, gt=0)


class AuthSettings(Section):
    session_ttl_s: int = Field(default=12 * 3600, ge=60)


class CareSettings(Section):
    away_max_days: float = Field(
        default=30,
        gt=0,
        le=366,
        description="Longest away at once (days): 'away confirmed', or households.csv's away_until after an import.",
    )


class ChannelSettings(Section):
    """One Apprise URL per channel kind, `{address}` standing for the contact point's address; `webhook` sends
    the kind through the signed webhook instead; empty: the kind is not used. See docs/notifications.md."""

    email: str = Field(
        default="", description="e.g. mailtos://user:pass@smtp.example.org?from=cwatch@example.org&to={address}"
    )
    sms: str = Field(default="", description="an SMS gateway Apprise knows, or `webhook` for a gateway of one's own")
    voice: str = Field(default="", description="a voice-call gateway, usually `webhook`")
    wecom: str = Field(default="", description="WeCom group robot: wecombot://{address} (the robot key)")
    dingtalk: str = Field(default="", description="DingTalk robot: dingtalk://{address} (token, or secret@token)")
    feishu: str = Field(default="", description="Feishu robot: feishu://{address} (the hook token)")
    ntfy: str = Field(default="", description="ntfy: ntfys://ntfy.example.org/{address} (the topic)")
    telegram: str = Field(default="", description="Telegram: tgram://BOT_TOKEN/{address} (the chat id)")
    webhook: str = Field(default="", description="`webhook`: contact points of kind webhook get the signed POST")


class NotifySettings(Section):
    webhook_url: str = Field(default="", description="POST every ticket change here (at least once, signed).")
    webhook_secret: str = Field(default="", description="HMAC-SHA256 signing secret; required with webhook_url.")
    public_url: str = Field(
        default="",
        description="The board's address as phones reach it, for one-tap links (https://cwatch.example.org); "
        "empty: http://<http.host>:<http.port>.",
    )
    link_ttl_s: float = Field(default=12 * 3600, ge=300, le=7 * 86_400, description="How long a one-tap link works.")
    allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks and notification gateways be on private addresses (a relay on the LAN or this "
        "host). Off: such URLs are refused at start-up and at sending (server-side request forgery).",
    )
    channels: ChannelSettings = ChannelSettings()

    @model_validator(mode="after")
    def _secret_with_url(self) -> NotifySettings:
        if self.webhook_url and len(self.webhook_secret) < 16:
            raise ValueError("webhook_url needs a webhook_secret of at least 16 characters")
        through_hook = [k for k, v in self.channels.model_dump().items() if v == "webhook"]
        if through_hook and len(self.webhook_secret) < 16:
            raise ValueError(f"channels {', '.join(through_hook)} = 'webhook' need a webhook_secret of 16+ characters")
        if [k for k in through_hook if k != "webhook"] and not self.webhook_url:
            raise ValueError("channels sent through the webhook need webhook_url")
        for kind, url in self.channels.model_dump().items():
            if url and url != "webhook" and "://" not in url:
                raise ValueError(f"channels.{kind}: expected an Apprise URL such as scheme://... or 'webhook'")
            if url and url != "webhook":
                problem = outbound_problem(url, allow_private=self.allow_private_targets, schemes=frozenset())
                if problem is not None:
                    raise ValueError(f"channels.{kind}: {problem}{_PRIVATE_HINT}")
        if self.webhook_url:
            problem = outbound_problem(self.webhook_url, allow_private=self.allow_private_targets)
            if problem is not None:
                raise ValueError(f"webhook_url: {problem}{_PRIVATE_HINT}")
        return self


_PRIVATE_HINT = " (a relay on this host or the LAN: set notify.allow_private_targets = true)"


class MediaSettings(Section):
    """Camera media on tickets and the photos people attach (docs/tickets.md, docs/operations.md)."""

    hosts: list[str] = Field(
        default=[],
        description="Hosts whose camera snapshots and clips the board shows (CSP host sources: nvr.example.cn, "
        "*.cam.example.org, https://nvr:8443, 10.2.0.5:*); media from other hosts is kept on the ticket, not shown.",
    )
    max_upload_bytes: int = Field(default=10 * 1024**2, ge=64 * 1024, le=64 * 1024**2, description="Largest photo.")
    max_pixels: int = Field(default=40_000_000, ge=100_000, le=200_000_000, description="Largest photo, in pixels.")
    max_side_px: int = Field(default=2560, ge=320, le=10_000, description="Photos are stored at most this wide/high.")
    photo_required_rules: list[str] = Field(
        default=[], description="Rules whose tickets need a photo before they are resolved (e.g. thrown_object)."
    )
    photo_required_severities: list[Literal["critical", "major", "minor", "warning", "info"]] = Field(
        default=[], description="Severities whose tickets need a photo before they are resolved."
    )
    storage: Literal["filesystem", "s3"] = Field(
        default="filesystem", description="filesystem: under data_dir/media; s3: an S3-compatible bucket."
    )
    s3_endpoint: str = Field(default="", description="https://s3.example.org, http://minio.lan:9000; empty: AWS.")
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_prefix: str = Field(default="cwatch/", description="Key prefix of every object cwatch writes.")

    @field_validator("hosts")
    @classmethod
    def _host_sources(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            parse_allow_entry(host)  # ValueError names the entry and what a valid one looks like
        return hosts

    @model_validator(mode="after")
    def _check(self) -> MediaSettings:
        if self.storage == "s3":
            missing = [k for k in ("s3_bucket", "s3_access_key", "s3_secret_key") if not getattr(self, k)]
            if missing:
                raise ValueError(f"storage s3 needs {', '.join(missing)}")
            if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
                raise ValueError("s3_endpoint: expected http(s)://host[:port]")
        return self


class SitePlanSettings(Section):
    """The site plan on the board and the wall (docs/deployment.md)."""

    tile_url: str = Field(
        default="",
        description="Map tiles drawn under the plan: an http(s) template with {z}, {x} and {y} "
        "(https://tiles.example.cn/{z}/{x}/{y}.png); empty: the plan alone, nothing loaded from elsewhere.",
    )

    @field_validator("tile_url")
    @classmethod
    def _template(cls, url: str) -> str:
        if url:
            tile_source(url)  # ValueError says what is wrong
        return url


def tile_source(url: str) -> AllowEntry:
    """The host source (for the CSP's img-src) of a tile template, or ValueError saying what a valid one is."""
    parts = urlsplit(url.replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r}: expected http(s)://host/.../{{z}}/{{x}}/{{y}}...")
    if not all(k in url for k in ("{z}", "{x}", "{y}")) or "{" in parts.netloc + parts.path + parts.query:
        raise ValueError(f"{url!r}: a tile template needs {{z}}, {{x}} and {{y}} and no other placeholder")
    port = f":{parts.port}" if parts.port else ""
    return parse_allow_entry(f"{parts.scheme}://{parts.hostname}{port}")


class Settings(BaseSettings):
    """Everything an operator can set. See `docs/deployment.md` for each key."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    data_dir: str = "var"
    timezone: str = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = Field(
        default="zh-CN",
        description="The language of a person who has none of their own (`lang` in people.csv or contacts.csv): "
        "their notices and one-tap pages.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    demo: bool = False
    http: HttpSettings = HttpSettings()
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    ingest: IngestSettings = IngestSettings()
    rules: RulesSettings = RulesSettings()
    registry: RegistrySettings = RegistrySettings()
    auth: AuthSettings = AuthSettings()
    notify: NotifySettings = NotifySettings()
    care: CareSettings = CareSettings()
    media: MediaSettings = MediaSettings()
    siteplan: SitePlanSettings = SitePlanSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides the file, which reaches us as init kwargs.
        return (env_settings, init_settings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite+aiosqlite:///{self.data_path / 'cwatch.db'}"


def load_settings(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read `path` (TOML, optional) and the environment; raise SettingsError naming file, line and key."""
    env = dict(os.environ if environ is None else environ)
    _refuse_unknown_env(env)
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise SettingsError(f"{path}: no such file") from None
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{path}: {e}") from None
    try:
        if environ is None:
            return Settings(**data)
        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(env)
            return Settings(**data)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    except ValidationError as e:
        raise SettingsError(_describe(e, path, text, data, env)) from None


def _fields_of(model: type[BaseModel]) -> dict[str, Any]:
    return dict(model.model_fields)


def _refuse_unknown_env(env: dict[str, str]) -> None:
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS or name.startswith("CWATCH_TEST_"):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        model: type[BaseModel] | None = Settings
        for i, part in enumerate(parts):
            fields = _fields_of(model) if model is not None else {}
            if part not in fields:
                raise SettingsError(f"environment variable {name}: unknown key {'.'.join(parts[: i + 1])}")
            ann = fields[part].annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            if model is None and i < len(parts) - 1:
                raise SettingsError(f"environment variable {name}: {'.'.join(parts[: i + 1])} has no sub-keys")


def _describe(err: ValidationError, path: Path | None, text: str, data: dict[str, Any], env: dict[str, str]) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc)
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        env_name = ENV_PREFIX + "__".join(p.upper() for p in loc)
        if env_name in env:
            lines.append(f"environment variable {env_name}: {key}: {msg}")
        elif path is not None and _in_data(data, loc):
            lines.append(f"{path}:{_line_of(text, loc)}: {key}: {msg}")
        elif path is not None:
            lines.append(f"{path}: {key}: {msg}")
        else:
            lines.append(f"{key}: {msg}")
    return "; ".join(lines)


def _in_data(data: dict[str, Any], loc: list[str]) -> bool:
    node: Any = data
    for p in loc:
        if not isinstance(node, dict) or p not in node:
            return False
        node = node[p]
    return True


def _line_of(text: str, loc: list[str]) -> int:
    """Line of `loc` in a TOML text: the `key =` line inside the `[table]` of its parents (best effort)."""
    table, key = ".".join(loc[:-1]), loc[-1]
    current = ""
    header = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
    assign = re.compile(r"^\s*\"?([A-Za-z0-9_\-]+)\"?\s*=")
    for no, line in enumerate(text.splitlines(), start=1):
        if m := header.match(line):
            current = m.group(1).strip()
            if current == ".".join(loc):
                return no
            continue
        if (m := assign.match(line)) and m.group(1) == key and current == table:
            return no
    return 1
