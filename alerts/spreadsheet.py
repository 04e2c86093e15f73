"""A report as an Excel workbook (openpyxl): a sheet per section with the same figures as the JSON."""

from __future__ import annotations

import io
from collections.abc import Callable

from openpyxl import Workbook
from openpyxl.styles import Font

from alerts.reports import COLUMNS, RATES, SECTIONS, Report, export_head, section_rows
from core.i18n import render


def workbook(report: Report, lang: str, rule_names: Callable[[str], str] | None = None) -> bytes:
    """The XLSX bytes in `lang`: rates as percentages, times in seconds, the header row bold and frozen."""
    head = export_head(lang)
    rows = section_rows(report, rule_names)
    rate_columns = [col for col, figure in enumerate(COLUMNS, start=3) if figure in RATES]  # after id and name
    wb = Workbook()
    first = True
    for section in SECTIONS:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = render(f"board.report.section.{section}", lang)
        ws.append(head)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row_section, row in rows:
            if row_section == section:
                ws.append(row)
        for col in rate_columns:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = "0.0%"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
