"""Sites and who is bound to them: the sites file import, join codes and bindings."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.reports.errors import ReportError, SiteImportError
from bot.reports.limits import LIMITS, clip, field_problem, printable
from bot.reports.schedule import Schedule
from bot.reports.views import SiteInfo, site_info
from bot.store.db import Database
from bot.store.models import Binding, Site

_BATCH = 1000


class SiteDirectory:
    """The sites part of `ReportService` (a mixin: it shares the service's database and clock)."""

    db: Database
    schedule: Schedule

    def now(self) -> datetime:
        """Current time in UTC (the service's clock)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ sites
    def import_sites_csv(self, path: Path) -> tuple[int, int]:
        """Import `code,name,district,join_code`; all rows or none. Returns (added, updated)."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SiteImportError([f"无法读取 {path}：{exc.strerror or exc}"]) from exc
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise SiteImportError(["文件编码无法识别，请另存为 UTF-8 的 CSV"])
        return self.import_sites(text)

    def import_sites(self, text: str) -> tuple[int, int]:
        """Import sites from CSV text (see `import_sites_csv`)."""
        reader = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(reader, [])]
        if header != ["code", "name", "district", "join_code"]:
            raise SiteImportError(["第 1 行表头应为：code,name,district,join_code"])
        rows: dict[str, tuple[str, str, str]] = {}
        problems = []
        for line, row in enumerate(reader, 2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != 4:
                problems.append(
                    f"第 {line} 行应有 4 列（code,name,district,join_code），实际 {len(row)} 列"
                )
                continue
            code, name, district, join = (c.strip() for c in row)
            if not code or not name or not join:
                missing = [
                    n for n, v in (("code", code), ("name", name), ("join_code", join)) if not v
                ]
                problems.append(f"第 {line} 行缺少 {'、'.join(missing)}")
            elif " " in code:
                problems.append(f"第 {line} 行考点代码“{clip(code)}”无效（不能含空格）")
            elif long := next(
                (m for f, v in (("code", code), ("name", name), ("district", district),
                                ("join_code", join)) if (m := field_problem(f, v))), None,
            ):  # fmt: skip
                problems.append(f"第 {line} 行：{long.split('。')[0]}。")
            elif code in rows:
                problems.append(f"第 {line} 行考点代码 {code} 与前面重复")
            else:
                rows[code] = (name, district, join)
        if problems:
            raise SiteImportError(problems)
        now = self.now()
        added = updated = 0
        with self.db.unit() as s:
            existing: dict[str, Site] = {}
            codes = list(rows)
            # In batches: PostgreSQL takes at most 65,535 parameters in one statement.
            for i in range(0, len(codes), _BATCH):
                batch = codes[i : i + _BATCH]
                existing.update(
                    (x.code, x) for x in s.scalars(select(Site).where(Site.code.in_(batch)))
                )
            pending = 0
            for code, (name, district, join) in rows.items():
                site = existing.get(code)
                if site is None:
                    s.add(
                        Site(
                            code=code,
                            name=name,
                            district=district,
                            join_code=join,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    added += 1
                    pending += 1
                    if pending >= _BATCH:
                        s.flush()
                        pending = 0
                elif (site.name, site.district, site.join_code) != (name, district, join):
                    site.name, site.district, site.join_code, site.updated_at = (
                        name,
                        district,
                        join,
                        now,
                    )
                    updated += 1
        return added, updated

    def join_codes(self) -> list[str]:
        """Every site's join code (so logs can hide them)."""
        with self.db.read() as s:
            return list(s.scalars(select(Site.join_code)))

    def had_sites(self, day: date) -> bool:
        """Whether any site had been imported by the end of `day`."""
        end = datetime.combine(
            day + timedelta(days=1), datetime.min.time(), tzinfo=self.schedule.tz
        )
        with self.db.read() as s:
            return (
                s.scalar(select(Site.id).where(Site.created_at < end.astimezone(UTC)).limit(1))
                is not None
            )

    def sites(self, existing_on: date | None = None) -> list[SiteInfo]:
        """All sites by code; with `existing_on`, only those imported by the end of that day."""
        query = select(Site).order_by(Site.code)
        if existing_on is not None:
            end = datetime.combine(existing_on + timedelta(days=1), datetime.min.time(),
                                   tzinfo=self.schedule.tz)  # fmt: skip
            query = query.where(Site.created_at < end.astimezone(UTC))
        with self.db.read() as s:
            return [site_info(x) for x in s.scalars(query)]

    # ------------------------------------------------------------------ people
    def bind(self, user_id: int, user_name: str, code: str, join_code: str) -> tuple[SiteInfo, str]:
        """Bind a user to a site. Returns the site and "new" | "same" | "moved"."""
        user_name = printable(user_name)[: LIMITS["user_name"].chars]
        if printable(code) != code or printable(join_code) != join_code:
            raise ReportError(
                "考点代码或加入码不对，未绑定。请向招生办核对后重发：/bind 考点代码 加入码"
            )
        with self.db.unit() as s:
            site = s.scalars(select(Site).where(Site.code == code)).first()
            if site is None or site.join_code != join_code:
                raise ReportError(
                    "考点代码或加入码不对，未绑定。请向招生办核对后重发：/bind 考点代码 加入码"
                )
            current = s.scalars(
                select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
            ).first()
            if current is not None and current.site_id == site.id:
                return site_info(site), "same"
            now = self.now()
            outcome = "new"
            if current is not None:
                current.unbound_at = now  # history is kept: the old row stays, closed
                outcome = "moved"
            s.add(Binding(user_id=user_id, user_name=user_name, site_id=site.id, bound_at=now))
            return site_info(site), outcome

    def site_of(self, user_id: int) -> SiteInfo | None:
        """The site a user is bound to, if any."""
        with self.db.read() as s:
            b = s.scalars(
                select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
            ).first()
            return site_info(b.site) if b else None

    def chiefs(self, codes: list[str]) -> dict[str, list[int]]:
        """User ids currently bound to each of the given sites."""
        out: dict[str, list[int]] = {c: [] for c in codes}
        with self.db.read() as s:
            rows = s.execute(
                select(Site.code, Binding.user_id)
                .join(Binding, Binding.site_id == Site.id)
                .where(Binding.unbound_at.is_(None), Site.code.in_(codes))
            )
            for code, uid in rows:
                out[code].append(int(uid))
        return out
