"""Accessibility basics measured in the browser: every visible input, select, textarea and button has an
accessible name, and text colours contrast with what is behind them (WCAG 2 relative luminance)."""

from __future__ import annotations

from typing import Any

# the names a control gets: its <label>, aria-label / aria-labelledby, its own text (buttons), a title
UNLABELLED_JS = """root => [...root.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.offsetParent !== null && e.type !== 'hidden')
  .filter(e => !((e.labels && [...e.labels].some(l => l.textContent.trim())) || e.getAttribute('aria-label')
    || e.getAttribute('aria-labelledby') || e.title || (e.tagName === 'BUTTON' && e.textContent.trim())))
  .map(e => e.outerHTML.slice(0, 120))"""

# the text colour of `selector`'s first element and the first opaque background at or above it
COLOURS_JS = """e => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  let bg = null;
  for (let n = e; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] === 1) bg = c.slice(0, 3);
  }
  return { fg: rgb(getComputedStyle(e).color).slice(0, 3), bg: bg || [255, 255, 255],
    size: parseFloat(getComputedStyle(e).fontSize) };
}"""


def luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: list[float], bg: list[float]) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def unlabelled(page: Any, root: str = "body") -> list[str]:
    found: list[str] = await page.locator(root).evaluate(UNLABELLED_JS)
    return found


async def text_style(page: Any, selector: str) -> tuple[float, float]:
    """(contrast ratio, font size in px) of the first element `selector` matches."""
    c = await page.locator(selector).first.evaluate(COLOURS_JS)
    return contrast_ratio(c["fg"], c["bg"]), float(c["size"])


#: WCAG 2 AA: 4.5:1 for body text
AA = 4.5
