"""Headless Chromium for the board's browser tests: how it is launched (Debian's binary, no downloaded browser),
the phone viewport, and a page that collects its errors.

The browser itself is the `browser` fixture (conftest.py): one Chromium for the session, and every context a test
opens (its cookies, storage and pages) closed after that test, so tests share the process and nothing else."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}


def watch_errors(page: Page, errors: list[str]) -> None:
    """Collect the page's uncaught JavaScript errors and every Content-Security-Policy violation Chromium reports
    (it refuses the resource and says so on the console)."""
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)


async def watched_page(browser: Browser, **context: Any) -> tuple[Page, list[str]]:
    """A page in a new browser context (`context`: its viewport, locale, time zone...) and the list that collects
    its uncaught JavaScript errors and CSP violations (a test asserts it stays empty)."""
    page = await (await browser.new_context(**context)).new_page()
    errors: list[str] = []
    watch_errors(page, errors)
    return page, errors
