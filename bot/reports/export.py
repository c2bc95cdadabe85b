"""Exports of a day or date range: one row per site and day (current version), plus incidents.

CSV is written with a BOM so Excel opens the Chinese headers correctly. XLSX has three sheets:
每日报告, 事件, 汇总.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from bot.reports.forms import LEVELS
from bot.reports.service import ReportService

REPORT_HEADER = [
    "日期", "考点代码", "考点名称", "区县", "状态", "报告类型", "应考", "实考", "缺考",
    "违纪/作弊", "保密室值班", "设备情况", "备注", "事件数", "最高事件级别", "版本",
    "提交人", "提交时间",
]  # fmt: skip
INCIDENT_HEADER = [
    "日期", "考点代码", "考点名称", "级别", "经过", "考场", "发生时间", "已采取措施",
    "报告人", "报告时间", "编号", "状态", "招生办确认", "照片",
]  # fmt: skip


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def report_rows(service: ReportService, start: date, end: date) -> list[list[Any]]:
    """Rows of the report sheet for every reporting day in the range."""
    current = service.current_reports(start, end)
    incidents = service.incidents(start, end)
    tz = service.schedule.tz
    rows: list[list[Any]] = []
    for day in _days(start, end):
        if not service.schedule.is_reporting_day(day):
            continue
        st = service.status(day)
        state = {s.code: "按时" for s in st.reported} | {s.code: "迟报" for s in st.late}
        for site in sorted(st.reported + st.late + st.missing, key=lambda s: s.code):
            r = current.get((site.code, day))
            found = [i for i in incidents if i.site.code == site.code and i.day == day]
            worst = max((LEVELS.index(i.level) for i in found), default=-1)
            base = [
                day.isoformat(),
                site.code,
                site.name,
                site.district,
                state.get(site.code, "未报"),
            ]
            if r is None:
                rows.append(
                    base + [""] * 8 + [len(found), LEVELS[worst] if found else "", "", "", ""]
                )
                continue
            kind = (
                "零报告"
                if r.kind == "zero" and not found
                else ("零报告（后有事件）" if r.kind == "zero" else "完整报告")
            )
            v = r.values
            rows.append([
                *base, kind, v["expected"], v["present"], v["absent"], v["violations"], v["duty"],
                v["equipment"], v["remarks"], len(found), LEVELS[worst] if found else "",
                r.version, r.submitted_name or r.submitted_by,
                r.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            ])  # fmt: skip
    return rows


def incident_rows(service: ReportService, start: date, end: date) -> list[list[Any]]:
    """Rows of the incident sheet: one per thread, as its first report stands now, with its
    state (处置中/已处置), 招生办's acknowledgement and the photos kept under the data directory."""
    tz = service.schedule.tz
    return [
        [i.day.isoformat(), i.site.code, i.site.name, i.level, i.description, i.room, i.occurred,
         i.measures, i.reported_name, i.reported_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
         f"#{i.id}", i.status, (i.acknowledged_name or "已确认") if i.acknowledged_at else "",
         "；".join(i.photos)]
        for i in service.incidents(start, end)
    ]  # fmt: skip


def to_csv(service: ReportService, start: date, end: date) -> bytes:
    """The report rows as CSV (UTF-8 with BOM)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(REPORT_HEADER)
    writer.writerows(report_rows(service, start, end))
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(service: ReportService, start: date, end: date) -> bytes:
    """Reports, incidents and per-day totals as an Excel workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = [
        ("每日报告", REPORT_HEADER, report_rows(service, start, end)),
        ("事件", INCIDENT_HEADER, incident_rows(service, start, end)),
    ]
    totals = []
    for day in _days(start, end):
        if service.schedule.is_reporting_day(day):
            s = service.summary(day)
            totals.append([day.isoformat(), s.sites, s.reported, s.late, s.missing, s.zero,
                           s.expected, s.present, s.absent, s.violations,
                           *[s.incidents.get(level, 0) for level in LEVELS]])  # fmt: skip
    sheets.append((
        "汇总",
        ["日期", "考点数", "按时", "迟报", "未报", "零报告", "应考", "实考", "缺考", "违纪/作弊",
         *[f"{level}事件" for level in LEVELS]],
        totals,
    ))  # fmt: skip
    first = True
    for title, header, rows in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        assert ws is not None
        ws.title = title
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
