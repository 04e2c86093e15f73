"""An SMTP server in the service's own event loop that keeps what it receives: the demo's outgoing mail lands
here and the board's server shows it at `/demo/mailbox`, so a new user sees a notification, taps its link and
watches the ticket change. Tests and the notification benchmark use it as a real SMTP server (aiosmtpd).

It accepts mail for anyone, without authentication or TLS, on a loopback address: a sink, not a mail server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True, slots=True)
class Mail:
    received_at: float  # the loop's time.time() when the message was accepted
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str

    @property
    def links(self) -> list[str]:
        return _URL.findall(self.text)


def _text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


@dataclass
class Mailbox:
    """The last `keep` mails received, oldest first; `arrived` is set at each new one."""

    keep: int = 200
    mails: deque[Mail] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        raw = envelope.original_content or envelope.content or b""
        msg = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.mails.append(
            Mail(
                time.time(),
                str(envelope.mail_from or ""),
                tuple(str(r) for r in envelope.rcpt_tos),
                str(msg.get("subject", "")),
                _text_of(msg),
            )
        )
        while len(self.mails) > self.keep:
            self.mails.popleft()
        self.arrived.set()
        return "250 OK"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host:port` (0: a free port); returns the port."""
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="cwatch-mailbox", decode_data=False), host, port
        )
        sock: Any = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int) -> list[Mail]:
        """Wait until at least `count` mails arrived (bound it with `asyncio.timeout`); returns them all."""
        while len(self.mails) < count:
            self.arrived.clear()
            await self.arrived.wait()
        return list(self.mails)


@dataclass(frozen=True, slots=True)
class MailboxAt:
    """A started mailbox and the port it listens on: what the wiring needs to send the demo's mail there."""

    mailbox: Mailbox
    port: int


def mailbox_route(mailbox: Mailbox, path: str = "/demo/mailbox") -> Route:
    """A page listing the mailbox, newest first, its links clickable. Plain HTML: no script, no inline style
    (the board's strict Content-Security-Policy applies here too)."""

    def linked(text: str) -> str:
        out, at = [], 0
        for m in _URL.finditer(text):
            out.append(html.escape(text[at : m.start()]))
            url = html.escape(m.group(0), quote=True)
            out.append(f'<a href="{url}">{url}</a>')
            at = m.end()
        out.append(html.escape(text[at:]))
        return "".join(out)

    async def page(_request: Request) -> HTMLResponse:
        items = []
        for mail in reversed(mailbox.mails):
            when = time.strftime("%H:%M:%S", time.localtime(mail.received_at))
            items.append(
                f'<article class="mail"><h2>{html.escape(mail.subject)}</h2>'
                f'<p class="muted">{when} · {html.escape(", ".join(mail.to))}</p>'
                f"<pre>{linked(mail.text)}</pre></article>"
            )
        body = "".join(items) or '<p class="muted">还没有邮件。 No mail yet: wait for the next ticket.</p>'
        return HTMLResponse(
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>演示邮箱 Demo mailbox · cwatch</title><link rel="stylesheet" href="/board.css"></head><body>'
            '<header class="topbar"><h1>演示邮箱 <span class="sub">Demo mailbox: what cwatch sent</span></h1>'
            '<a href="/demo/mailbox">刷新 Refresh</a></header>'
            f'<main class="act mailbox">{body}</main></body></html>',
            headers={"Cache-Control": "no-store"},
        )

    return Route(path, page, methods=["GET"])
