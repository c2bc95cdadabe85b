"""Exports of a day or date range: one row per site and day (current version), plus incidents.

CSV is written with a BOM so Excel opens the Chinese headers correctly. XLSX has a 日报 sheet
(one per session when the schedule has sessions), 事件, 汇总 and 统计; dates are date cells,
columns are sized and every sheet has a filter. Only the sites of the given scope are exported.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

from bot.reports.forms import LEVELS
from bot.reports.scope import ALL, Scope
from bot.reports.service import ReportService

_FIXED = ["日期", "场次", "考点代码", "考点名称", "区县", "状态", "报告类型"]
_TAIL = ["事件数", "最高事件级别", "版本", "提交人", "提交时间"]
INCIDENT_HEADER = [
    "日期", "考点代码", "考点名称", "区县", "级别", "经过", "考场", "发生时间", "已采取措施",
    "报告人", "报告时间", "编号", "状态", "招生办确认", "照片",
]  # fmt: skip
_LEGACY_LABELS = {"violations": "违纪/作弊", "duty": "保密室值班", "equipment": "设备情况",
                  "expected": "应考", "present": "实考", "absent": "缺考", "remarks": "备注"}  # fmt: skip


def report_header(service: ReportService) -> list[str]:
    """The report sheet's header: fixed columns, the template's fields, then the tail."""
    labels = [_LEGACY_LABELS.get(f.name, f.label) for f in service.template.fields]
    return [*_FIXED, *labels, *_TAIL]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _sessions(service: ReportService, start: date, end: date) -> list[str]:
    keys: list[str] = []
    for day in _days(start, end):
        if service.schedule.is_reporting_day(day):
            keys += [k for k in service.schedule.session_keys(day) if k not in keys]
    return keys


def report_rows(
    service: ReportService,
    start: date,
    end: date,
    scope: Scope | None = None,
    session: str | None = None,
) -> list[list[Any]]:
    """Rows of the report sheet for every reporting day (and session) in the range."""
    scope = scope or ALL
    incidents = service.incidents(start, end, scope)
    tz = service.schedule.tz
    names = [f.name for f in service.template.fields]
    rows: list[list[Any]] = []
    for day in _days(start, end):
        if not service.schedule.is_reporting_day(day):
            continue
        for key in service.schedule.session_keys(day):
            if session is not None and key != session:
                continue
            current = service.current_reports(day, session=key)
            st = service.status(day, key, scope)
            state = {s.code: "按时" for s in st.reported} | {s.code: "迟报" for s in st.late}
            for site in sorted(st.reported + st.late + st.missing, key=lambda s: s.code):
                r = current.get((site.code, day))
                found = [i for i in incidents if i.site.code == site.code and i.day == day]
                worst = LEVELS[max(LEVELS.index(i.level) for i in found)] if found else ""
                base = [day, key, site.code, site.name, site.district,
                        state.get(site.code, "未报")]  # fmt: skip
                if r is None:
                    rows.append([*base, "", *[""] * len(names), len(found), worst, "", "", ""])
                    continue
                kind = "日报" if r.kind == "full" else "零报告"
                if r.kind == "zero" and site.code in st.zero_then_incident:
                    kind = "零报告（后有事件）"
                values = [_cell(r.values.get(n)) for n in names]
                submitted = r.submitted_at.astimezone(tz).replace(tzinfo=None, microsecond=0)
                rows.append([*base, kind, *values, len(found), worst, r.version,
                             r.submitted_name or r.submitted_by, submitted])  # fmt: skip
    return rows


def _cell(v: Any) -> Any:
    return "" if v is None else v


def incident_rows(
    service: ReportService, start: date, end: date, scope: Scope | None = None
) -> list[list[Any]]:
    """Rows of the incident sheet: one per thread, as its first report stands now, with its
    state (处置中/已处置), 招生办's acknowledgement and the photos kept under the data directory."""
    tz = service.schedule.tz
    return [
        [i.day, i.site.code, i.site.name, i.site.district, i.level, i.description, i.room,
         i.occurred, i.measures, i.reported_name,
         i.reported_at.astimezone(tz).replace(tzinfo=None, microsecond=0),
         f"#{i.id}", i.status, (i.acknowledged_name or "已确认") if i.acknowledged_at else "",
         "；".join(i.photos)]
        for i in service.incidents(start, end, scope)
    ]  # fmt: skip


def _text(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return v


def to_csv(service: ReportService, start: date, end: date, scope: Scope | None = None) -> bytes:
    """The report rows as CSV (UTF-8 with BOM)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(report_header(service))
    writer.writerows([[_text(v) for v in row] for row in report_rows(service, start, end, scope)])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(service: ReportService, start: date, end: date, scope: Scope | None = None) -> bytes:
    """Reports (a sheet per session when there are sessions), incidents, totals, statistics."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    scope = scope or ALL
    wb = Workbook()
    header = report_header(service)
    sessions = [k for k in _sessions(service, start, end) if k]
    sheets: list[tuple[str, list[str], list[list[Any]]]] = []
    if sessions:
        for key in sessions:
            sheets.append((f"日报-{key}"[:31], header,
                           report_rows(service, start, end, scope, key)))  # fmt: skip
    else:
        sheets.append(("日报", header, report_rows(service, start, end, scope)))
    sheets.append(("事件", INCIDENT_HEADER, incident_rows(service, start, end, scope)))
    totals = []
    for day in _days(start, end):
        if not service.schedule.is_reporting_day(day):
            continue
        for key in service.schedule.session_keys(day):
            s = service.summary(day, key, scope)
            totals.append([day, key, s.sites, s.reported, s.late, s.missing, s.full, s.zero,
                           s.zero_with_figures, s.zero_then_incident, s.expected, s.present,
                           s.absent, s.violations,
                           *[s.incidents.get(level, 0) for level in LEVELS]])  # fmt: skip
    sheets.append((
        "汇总",
        ["日期", "场次", "考点数", "按时", "迟报", "未报", "日报", "零报告", "零报告带人数",
         "零报告后有事件", "应考（日报及带人数的零报告）", "实考", "缺考", "违纪/作弊",
         *[f"{level}事件" for level in LEVELS]],
        totals,
    ))  # fmt: skip
    stats = service.stats(start, end, scope)
    sheets.append((
        "统计",
        ["考点代码", "考点名称", "区县", "应报次数", "按时", "迟报", "未报", "迟报率", "事件数"],
        [[x.site.code, x.site.name, x.site.district, x.due, x.on_time, x.late, x.missing,
          round(x.late_rate, 4), x.incidents] for x in stats.sites],
    ))  # fmt: skip
    first = True
    for title, head, rows in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        assert ws is not None
        ws.title = title
        ws.append(head)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        widths = [max(4, _width(h)) for h in head]
        for row in rows:
            for i, v in enumerate(row):
                widths[i] = min(60, max(widths[i], _width(v)))
        for i, w in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = w + 2
        for col, v in enumerate(head, 1):
            fmt = "yyyy-mm-dd hh:mm" if v in ("提交时间", "报告时间") else (
                "yyyy-mm-dd" if v == "日期" else "0.0%" if v == "迟报率" else None)  # fmt: skip
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                    cell.number_format = fmt
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(head))}{max(1, len(rows) + 1)}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _width(v: Any) -> int:
    """Display width of a cell: CJK characters count double."""
    if isinstance(v, datetime):
        return 16
    if isinstance(v, date):
        return 10
    text = str(v)
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)
