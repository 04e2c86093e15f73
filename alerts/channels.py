"""Senders: how a rendered message reaches an address on one kind of channel.

Providers are reached through Apprise (WeCom, DingTalk, Feishu, e-mail, ntfy, Telegram and many SMS gateways),
configured by operators as one Apprise URL per channel kind with `{address}` standing for the contact point's
address (`notify.channels` in the settings; docs/notifications.md). The value `webhook` sends the kind through
the signed webhook instead (`notify.webhook_url`), for a gateway of one's own (an SMS or voice provider Apprise
does not cover).

Secrets: the configured URLs hold provider keys and passwords. They are never logged: a failure's reason has
every secret part of the URL masked, and so does anything Apprise logs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise
import httpx

from alerts.errors import DeliveryError
from alerts.messages import Message
from alerts.notify import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from alerts.outbound import OutboundGuard
from core.clock import Clock

#: Query parameters of an Apprise URL that are not secret (shown in errors as they are).
_PLAIN_PARAMS = frozenset({"to", "from", "name", "mode", "format", "cc", "bcc", "smtp", "user", "priority"})
WEBHOOK = "webhook"
#: An address of each kind to check a configured URL with at start-up.
_SAMPLE_ADDRESS = {"email": "check@example.org", "sms": "+8613800000000", "voice": "+8613800000000"}


class Sender(Protocol):
    async def send(self, kind: str, address: str, message: Message, context: Mapping[str, Any]) -> None:
        """Hand the message to the provider, or raise `DeliveryError` with a reason free of secrets."""
        ...


def secrets_of(url: str) -> list[str]:
    """The parts of an Apprise URL that must never be shown: password, user, path segments (bot keys and
    tokens travel there) and query values other than plain ones."""
    parts = urlsplit(url)
    found = [parts.password or "", parts.username or ""]
    found += [unquote(seg) for seg in parts.path.split("/")]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() not in _PLAIN_PARAMS]
    return sorted({s for s in found if len(s) >= 4 and s != "{address}"}, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return text


def mask_address(address: str) -> str:
    """An address as the timeline shows it: enough to tell which, not enough to copy."""
    if "@" in address:
        user, _, domain = address.partition("@")
        return f"{user[:1]}***@{domain}"
    if re.fullmatch(r"\+?[0-9 -]{5,}", address):
        digits = address.replace(" ", "").replace("-", "")
        return f"{digits[:3]}****{digits[-4:]}"
    return address[:2] + "***" if len(address) > 4 else "***"


class _ScrubApprise(logging.Filter):
    """Masks configured secrets in whatever Apprise logs."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            record.msg = mask(message, sorted(self.secrets, key=len, reverse=True))
            record.args = None
        return True


_SCRUB = _ScrubApprise()
_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.addFilter(_SCRUB)
_APPRISE_LOG.setLevel(logging.WARNING)  # its INFO lines name recipients; its DEBUG lines dump payloads


class AppriseSender:
    """One channel kind through one Apprise URL template (`{address}` is replaced by the contact's address)."""

    def __init__(self, kind: str, url_template: str) -> None:
        self.kind = kind
        self.template = url_template
        self.secrets = secrets_of(url_template)
        _SCRUB.secrets.update(self.secrets)
        if not apprise.Apprise().add(self.url(_SAMPLE_ADDRESS.get(kind, "cwatchcheck"))):
            raise ValueError(f"notify.channels.{kind}: not a URL Apprise understands (see docs/notifications.md)")

    def url(self, address: str) -> str:
        return self.template.replace("{address}", quote(address, safe="@+"))

    async def send(self, kind: str, address: str, message: Message, context: Mapping[str, Any]) -> None:
        ap = apprise.Apprise()
        if not ap.add(self.url(address)):
            raise DeliveryError(f"{kind}: the address {mask_address(address)} does not fit notify.channels.{kind}")
        with apprise.LogCapture(level=logging.WARNING) as logs:  # type: ignore[no-untyped-call]
            ok = await ap.async_notify(body=message.body, title=message.title, body_format=apprise.NotifyFormat.TEXT)
        if not ok:
            lines = [line.split(" - ", 2)[-1] for line in str(logs.getvalue()).splitlines() if line.strip()]
            reason = "; ".join(lines[-2:]) or "the provider refused the message"
            raise DeliveryError(f"{kind}: {mask(reason, self.secrets)}"[:500])


class WebhookSender:
    """A channel kind through the signed webhook: the receiver (a gateway of the operator's own) gets the kind,
    the address and the text, signed like every cwatch webhook (`alerts.notify`). `url` None: the contact
    point's address is the URL (contact points of kind `webhook`)."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        guard: OutboundGuard | None = None,
    ) -> None:
        if url == "" or len(secret) < 16:
            raise ValueError("a channel through the webhook needs notify.webhook_url and notify.webhook_secret")
        self.url = url
        self.secret = secret
        self.clock = clock
        self.client = client or httpx.AsyncClient(timeout=10.0)
        self.guard = guard  # None: no address check; the wiring passes one (a contact point's URL is data)

    async def send(self, kind: str, address: str, message: Message, context: Mapping[str, Any]) -> None:
        delivery_id = str(context.get("delivery_id", ""))
        body = json.dumps(
            {
                "delivery_id": delivery_id,
                "notice": {"channel": kind, "address": address, "title": message.title, "text": message.body},
                **{k: v for k, v in context.items() if k != "delivery_id"},
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        ts = str(int(self.clock.now()))
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self.secret, ts, body),
        }
        if self.guard is not None:
            await self.guard.check(self.url or address)
        try:
            r = await self.client.post(self.url or address, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"{kind} by webhook: {type(e).__name__}") from e
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"{kind} by webhook: the receiver answered {r.status_code}")


def build_senders(
    templates: Mapping[str, str],
    *,
    webhook_url: str,
    webhook_secret: str,
    clock: Clock,
    guard: OutboundGuard | None = None,
) -> dict[str, Sender]:
    """A sender per configured channel kind; `ValueError` names a kind whose URL is not valid."""
    out: dict[str, Sender] = {}
    for kind, template in templates.items():
        if not template:
            continue
        if template == WEBHOOK:
            url = None if kind == WEBHOOK else webhook_url  # a `webhook` contact point names its own URL
            out[kind] = WebhookSender(url, webhook_secret, clock=clock, guard=guard)
        else:
            out[kind] = AppriseSender(kind, template)
    return out
