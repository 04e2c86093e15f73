"""A report as an Excel workbook (openpyxl): a sheet per section with the same figures as the JSON."""

from __future__ import annotations

import io
from collections.abc import Callable

from openpyxl import Workbook
from openpyxl.styles import Font

from alerts.reports import Report, table_rows

_SHEETS = {
    "totals": ("合计", "Totals"),
    "by_area": ("按区域", "By area"),
    "by_rule": ("按规则", "By rule"),
    "trend": ("趋势", "Trend"),
}


def workbook(report: Report, zh: bool, rule_names: Callable[[str], str] | None = None) -> bytes:
    """The XLSX bytes: rates as percentages, times in seconds, the header row bold and frozen."""
    rows = table_rows(report, zh, rule_names)
    head, body = rows[0], rows[1:]
    wb = Workbook()
    first = True
    for section, (zh_title, en_title) in _SHEETS.items():
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = zh_title if zh else en_title
        ws.append(head[1:])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row in body:
            if row[0] == section:
                ws.append(row[1:])
        for col, title in enumerate(head[1:], start=1):
            if isinstance(title, str) and ("率" in title or "on time" in title):
                for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell.number_format = "0.0%"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
