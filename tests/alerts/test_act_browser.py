"""One tap from a real e-mail: a new ticket's assignee gets a mail through a real SMTP server (aiosmtpd), headless
Chromium opens its accept link on a 390x844 phone viewport, one tap accepts, and the ticket is theirs. A link
used twice, and one whose ticket moved on, show why they cannot act, in Chinese and English.

`python -m tests.alerts.test_act_browser docs/notify-accept-phone.png` redraws the screenshot in the docs."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import ViewportSize
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.board import STATIC_DIR
from alerts.lifecycle import Status
from alerts.tables import create_tables
from core.db import make_engine
from core.i18n import EN, ZH, render
from cwatch.http import build_http_app
from testkit.require import unavailable
from testkit.services import free_port

from .notifykit import Kit, alert, link_in, notify_kit, registry

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync", "--no-first-run"]
PHONE: ViewportSize = {"width": 390, "height": 844}


@asynccontextmanager
async def served(kit: Kit) -> AsyncIterator[str]:
    """The service's HTTP app (API, board files, security headers) around the kit, on a free port."""

    async def ready() -> dict[str, bool]:
        return {"store": True}

    api = AlertsApi(kit.service, AccountStore(kit.engine), lambda: kit.reg, link_actions=kit.actions)
    app = build_http_app(readiness=ready, metrics=CollectorRegistry(), alerts_api=api, board_dir=STATIC_DIR)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        kit.channel.base_url = url
        yield url
    finally:
        server.should_exit = True
        await task


def accept_link(text: str) -> str:
    return link_in(text, "accept")


async def accept_by_phone(kit: Kit, screenshot: Path | None = None, lang: str = ZH) -> tuple[int, str]:
    """A ticket is raised, its mail arrives, the phone opens the link and taps once; the page speaks the
    recipient's language `lang` alone, though the browser's is the other one. Returns (ticket, link)."""
    from playwright.async_api import async_playwright, expect

    async with served(kit):
        [t] = await kit.service.apply([alert()])
        await kit.deliver_all()
        async with asyncio.timeout(10):
            [mail] = await kit.mailbox.wait_for(1)
        url = accept_link(mail.text)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page(
                    viewport=PHONE,
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="en-US" if lang == ZH else "zh-CN",
                )
                errors: list[str] = []  # script errors, CSP refusals, failed requests (a browser asks for a favicon)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
                page.on(
                    "response",
                    lambda r: (
                        errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None
                    ),
                )
                await page.goto(url)
                button = page.locator("#act-go")
                await expect(button).to_have_text(render("board.onetap.action.accept", lang))
                await expect(page.locator("h1")).to_have_text("cwatch " + render("board.onetap.ticket", lang))
                await expect(page.locator("#act-title")).to_have_text(re.compile(r"#\d+ (烟感报警|Smoke alarm)$"))
                await expect(page.locator("#act-title")).to_contain_text("烟感报警" if lang == ZH else "Smoke alarm")
                if screenshot is not None:
                    await page.screenshot(path=str(screenshot))
                await button.tap()  # the one tap
                done = page.locator("#act-message")
                await expect(done).to_contain_text(render("board.onetap.done.accept", lang))
                await expect(done).not_to_contain_text(render("board.onetap.done.accept", EN if lang == ZH else ZH))
                assert errors == []  # no CSP refusal, no script error
            finally:
                await browser.close()
    return t.id, url


@pytest.fixture
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        unavailable("chromium is not installed")


@pytest.fixture
async def sqlite(chromium: None, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'act.db'}")
    await create_tables(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_one_tap_on_a_phone_accepts_the_ticket_from_its_mail(sqlite: AsyncEngine) -> None:
    from playwright.async_api import async_playwright, expect

    async with notify_kit(sqlite) as kit:
        ticket_id, url = await accept_by_phone(kit)
        t = await kit.service.store.get(ticket_id)
        assert t is not None
        assert t.status is Status.ACKNOWLEDGED
        assert t.assignee_id == "p-w1"
        # the same link again: a page that says why, in one language (the browser's, or the link's `?lang=`;
        # a used link does not tell its recipient's), and nothing changes
        fragment = url.partition("#")[2]
        async with served(kit), async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for locale, query, shown, not_shown in [
                    ("en-US", "", "already used", "已经使用过"),
                    ("zh-CN", "", "已经使用过", "already used"),
                    ("en-US", "?lang=zh-CN", "已经使用过", "already used"),
                ]:
                    page = await browser.new_page(viewport=PHONE, locale=locale)
                    await page.goto(f"{kit.channel.base_url}/act.html{query}#{fragment}")
                    await expect(page.locator("#act-message")).to_contain_text(shown)
                    await expect(page.locator("#act-message")).not_to_contain_text(not_shown)
                    await expect(page.locator("h1")).to_have_text("cwatch 工单" if "已" in shown else "cwatch Ticket")
                    await expect(page.locator("#act-card")).to_be_hidden()
                    await page.close()
            finally:
                await browser.close()
        events = [e.action for e in await kit.service.store.timeline(ticket_id)]
        assert events.count("ack") == 1


async def test_an_english_readers_link_opens_in_english(sqlite: AsyncEngine) -> None:
    reg = registry()
    w1 = dataclasses.replace(reg.people["p-w1"], lang=EN)
    async with notify_kit(sqlite, reg=reg.with_changes(people=[w1])) as kit:
        await accept_by_phone(kit, lang=EN)
        [mail] = kit.mailbox.mails
        assert mail.text.startswith("Hello 周杰: New ticket for you.")
        assert "接单" not in mail.text


async def _screenshot(path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{path.with_suffix('.db')}")
    await create_tables(engine)
    try:
        async with notify_kit(engine) as kit:
            await accept_by_phone(kit, screenshot=path)
    finally:
        await engine.dispose()
        path.with_suffix(".db").unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/notify-accept-phone.png")))
