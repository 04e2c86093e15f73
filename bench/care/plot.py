"""The trade-off of `python -m bench.care --json FILE` as a PNG: false no-water tickets per household-month
against the 95th percentile of the delay from the last use, one point per setting or peer, with the targets.
Drawn with Pillow (a dependency already; matplotlib is not).

    python -m bench.care.plot FILE.json docs/care-tradeoff.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

W, H = 1140, 680
LEFT, RIGHT, TOP, BOTTOM = 90, 400, 40, 70
TARGET_FALSE = 0.3
TARGET_P95_H = 18.0


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    pts = [
        (r["name"], float(r["delay_p95_h"]), float(r["false"]), r["detected"] == r["incidents"])
        for r in rows
        if not math.isnan(float(r["delay_p95_h"]))
    ]
    xmax = max([TARGET_P95_H * 1.5, *(x for _, x, _, _ in pts)]) * 1.08
    ymax = max([TARGET_FALSE * 3, *(y for _, _, y, _ in pts)]) * 1.1
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    x0, x1, y0, y1 = LEFT, W - RIGHT, H - BOTTOM, TOP

    def sx(x: float) -> float:
        return x0 + (x1 - x0) * x / xmax

    def sy(y: float) -> float:
        return y0 - (y0 - y1) * y / ymax

    small, normal = _font(13), _font(15)
    d.rectangle([sx(0), sy(TARGET_FALSE), sx(TARGET_P95_H), sy(0)], fill="#e6f4e6")  # both targets met
    d.line([x0, y0, x1, y0], fill="black")
    d.line([x0, y0, x0, y1], fill="black")
    for i in range(0, int(xmax) + 1, 6):
        d.line([sx(i), y0, sx(i), y0 + 5], fill="black")
        d.text((sx(i), y0 + 8), str(i), fill="black", font=small, anchor="ma")
    step = 0.25 if ymax <= 2.5 else 0.5 if ymax <= 5 else 1.0
    k = 0
    while k * step <= ymax:
        d.line([x0 - 5, sy(k * step), x0, sy(k * step)], fill="black")
        d.text((x0 - 8, sy(k * step)), f"{k * step:g}", fill="black", font=small, anchor="rm")
        k += 1
    xlabel = "delay from the last use, 95th percentile (h)"
    d.text(((x0 + x1) / 2, H - 30), xlabel, fill="black", font=normal, anchor="ma")
    d.text((10, 12), "false no-water tickets per household-month", fill="black", font=normal)
    targets = f"targets: false <= {TARGET_FALSE:g}, p95 <= {TARGET_P95_H:g} h"
    d.text((sx(0.3), sy(TARGET_FALSE) - 4), targets, fill="#2e7d32", font=small, anchor="ld")
    for i, (_name, x, y, all_found) in enumerate(pts, 1):
        r = 6
        colour = "#1565c0" if all_found else "#c62828"
        d.ellipse([sx(x) - r, sy(y) - r, sx(x) + r, sy(y) + r], fill=colour)
        d.text((sx(x) + 8, sy(y) - 8), str(i), fill=colour, font=small)
    ly = TOP
    d.text((W - RIGHT + 20, ly), "blue: every incident detected; red: some missed", fill="black", font=small)
    for i, (name, _x, _y, all_found) in enumerate(pts, 1):
        ly += 20
        colour = "#1565c0" if all_found else "#c62828"
        d.text((W - RIGHT + 20, ly), f"{i}. {name[:50]}", fill=colour, font=small)
    img.save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.care.plot", description=__doc__.splitlines()[0])
    p.add_argument("json", type=Path, help="written by python -m bench.care --json")
    p.add_argument("png", type=Path)
    a = p.parse_args(argv)
    plot(json.loads(a.json.read_text(encoding="utf-8")), a.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
