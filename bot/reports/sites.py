"""Sites and who is bound to them: the sites file import, join codes and bindings.

Join codes are stored as a salted SHA-256 of the code upper-cased (NFKC), so they compare
case-insensitively and a copy of the database does not give them away. A code left blank in the
sites file is generated and shown once by the import. Wrong codes are recorded per user; the
sixth within an hour is refused before it is checked.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

import prompts
from bot.reports.errors import ReportError, SiteImportError
from bot.reports.limits import LIMITS, clip, field_problem, printable
from bot.reports.schedule import Schedule
from bot.reports.views import SiteInfo, aware, site_info
from bot.store.db import Database
from bot.store.models import BindAttempt, Binding, Site

if TYPE_CHECKING:
    from bot.reports.outbox import Outbox

_BATCH = 1000
MAX_WRONG_CODES = 5  # per user and hour
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: codes are read aloud and typed
# Header names a sites file may use, in Chinese or English, in any order.
HEADERS = {
    "code": ("code", "考点代码", "代码", "考点编号"),
    "name": ("name", "考点名称", "名称", "考点"),
    "district": ("district", "区县", "区/县", "县区"),
    "join_code": ("join_code", "加入码", "joincode", "join code"),
}
_WRONG = "考点代码或加入码不对，未绑定。请向招生办核对后重发：/bind 考点代码 加入码"


def normalise_join_code(code: str) -> str:
    """A join code as compared: NFKC (full-width letters typed on a phone), upper-case."""
    return unicodedata.normalize("NFKC", code).strip().upper()


def hash_join_code(salt: str, code: str) -> str:
    """The stored form of a join code (same as migration 0005)."""
    return hashlib.sha256((salt + ":" + normalise_join_code(code)).encode("utf-8")).hexdigest()


def new_join_code() -> str:
    """A random 6-character join code."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


@dataclass
class SiteImport:
    """What an import changed, and the join codes it generated (shown once, never stored)."""

    added: int
    updated: int
    generated: dict[str, str] = field(default_factory=dict)  # site code -> join code


@dataclass(frozen=True)
class BoundChief:
    """A user bound to a site."""

    user_id: int
    name: str
    bound_at: datetime


class SiteDirectory:
    """The sites part of `ReportService` (a mixin: it shares the service's database and clock)."""

    db: Database
    schedule: Schedule
    outbox: Outbox

    def now(self) -> datetime:
        """Current time in UTC (the service's clock)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ sites
    def import_sites_csv(self, path: Path) -> tuple[int, int]:
        """Import a sites CSV; all rows or none. Returns (added, updated)."""
        result = self.import_sites_file(path)
        return result.added, result.updated

    def import_sites_file(self, path: Path) -> SiteImport:
        """Import a sites CSV file (UTF-8 or GB18030); all rows or none."""
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
        return self.import_sites_text(text)

    def import_sites(self, text: str) -> tuple[int, int]:
        """Import sites from CSV text (see `import_sites_text`); (added, updated)."""
        result = self.import_sites_text(text)
        return result.added, result.updated

    def import_sites_text(self, text: str) -> SiteImport:
        """Import sites from CSV text with Chinese or English headers in any order.

        Columns: 考点代码/code, 考点名称/name, 区县/district (optional), 加入码/join_code
        (optional; blank: generated for a new site, kept for an existing one).
        """
        reader = csv.reader(io.StringIO(text))
        header = [h.strip().lower() for h in next(reader, [])]
        cols: dict[str, int] = {}
        for key, names in HEADERS.items():
            for i, h in enumerate(header):
                if h in names:
                    cols[key] = i
        if "code" not in cols or "name" not in cols:
            raise SiteImportError(
                ["第 1 行表头应含 考点代码 和 考点名称（或 code,name），可加 区县、加入码"]
            )
        rows: dict[str, tuple[str, str, str]] = {}
        problems = []
        for line, row in enumerate(reader, 2):
            if not any(c.strip() for c in row):
                continue
            if len(row) > len(header):
                problems.append(f"第 {line} 行有 {len(row)} 列，比表头多（表头 {len(header)} 列）")
                continue

            def cell(key: str, row: list[str] = row) -> str:
                i = cols.get(key)
                return row[i].strip() if i is not None and i < len(row) else ""

            code, name, district, join = (cell(k) for k in ("code", "name", "district",
                                                             "join_code"))  # fmt: skip
            if not code or not name:
                missing = [n for n, v in (("考点代码", code), ("考点名称", name)) if not v]
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
        result = SiteImport(0, 0)
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
                    if not join:
                        join = result.generated[code] = new_join_code()
                    salt = secrets.token_hex(16)
                    s.add(Site(code=code, name=name, district=district, join_code="",
                               join_salt=salt, join_hash=hash_join_code(salt, join),
                               created_at=now, updated_at=now))  # fmt: skip
                    result.added += 1
                    pending += 1
                    if pending >= _BATCH:
                        s.flush()
                        pending = 0
                    continue
                if "district" not in cols:  # a file without the column keeps the 区县
                    district = site.district
                changed = (site.name, site.district) != (name, district)
                if join and not _matches(site, join):
                    site.join_salt = secrets.token_hex(16)
                    site.join_hash = hash_join_code(site.join_salt, join)
                    site.join_code = ""
                    changed = True
                if changed:
                    site.name, site.district, site.updated_at = name, district, now
                    result.updated += 1
        return result

    def join_codes(self) -> list[str]:
        """Plaintext join codes still stored (none after migration 0005: codes are hashed)."""
        with self.db.read() as s:
            return [c for c in s.scalars(select(Site.join_code)) if c]

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
        query = select(Site.code, Site.name, Site.district).order_by(Site.code)
        if existing_on is not None:
            end = datetime.combine(existing_on + timedelta(days=1), datetime.min.time(),
                                   tzinfo=self.schedule.tz)  # fmt: skip
            query = query.where(Site.created_at < end.astimezone(UTC))
        with self.db.read() as s:
            # Plain rows: views of hundreds of sites build no ORM objects.
            return [SiteInfo(code, name, district) for code, name, district in s.execute(query)]

    # ------------------------------------------------------------------ people
    def bind(
        self,
        user_id: int,
        user_name: str,
        code: str,
        join_code: str,
        notify: list[int] | None = None,
    ) -> tuple[SiteInfo, str]:
        """Bind a user to a site. Returns the site and "new" | "same" | "moved".

        At most `MAX_WRONG_CODES` wrong codes per user and hour (recorded, so a restart does not
        reset them). A binding to a site someone is already bound to queues a notice to each
        chat in `notify` (招生办), in the same transaction.
        """
        user_name = printable(user_name)[: LIMITS["user_name"].chars]
        now = self.now()
        wrong = False
        with self.db.unit() as s:
            since = now - timedelta(hours=1)
            recent = list(
                s.scalars(
                    select(BindAttempt.at)
                    .where(BindAttempt.user_id == user_id, BindAttempt.at > since)
                    .order_by(BindAttempt.at)
                )
            )
            if len(recent) >= MAX_WRONG_CODES:
                wait = aware(recent[0]) + timedelta(hours=1) - now
                minutes = max(1, -int(-wait.total_seconds() // 60))
                raise ReportError(prompts.render("bind_too_many", n=MAX_WRONG_CODES,
                                                 minutes=minutes))  # fmt: skip
            site = None
            if printable(code) == code and printable(join_code) == join_code:
                site = s.scalars(select(Site).where(Site.code == code.strip())).first()
            if site is None or not _matches(site, join_code):
                s.add(BindAttempt(user_id=user_id, at=now))
                wrong = True
            else:
                current = s.scalars(
                    select(Binding).where(Binding.user_id == user_id, Binding.unbound_at.is_(None))
                ).first()
                if current is not None and current.site_id == site.id:
                    return site_info(site), "same"
                others = list(
                    s.scalars(
                        select(Binding).where(
                            Binding.site_id == site.id, Binding.unbound_at.is_(None)
                        )
                    )
                )
                outcome = "new"
                if current is not None:
                    current.unbound_at = now  # history is kept: the old row stays, closed
                    outcome = "moved"
                s.add(Binding(user_id=user_id, user_name=user_name, site_id=site.id, bound_at=now))
                if others and notify:
                    from bot.reports.outbox import PendingNotice

                    text = prompts.render(
                        "bind_shared_notice",
                        site=f"{site.code} {site.name}",
                        user=user_name or str(user_id),
                        uid=user_id,
                        others="、".join(b.user_name or str(b.user_id) for b in others),
                    )
                    s.flush()
                    self.outbox.add(s, [
                        PendingNotice("binding", f"binding:{site.code}:{user_id}:{now.isoformat()}:{t}",
                                      t, text)
                        for t in notify
                    ])  # fmt: skip
                return site_info(site), outcome
        assert wrong
        left = MAX_WRONG_CODES - len(recent) - 1
        raise ReportError(_WRONG + (f"（本小时还可再试 {left} 次）" if left < 3 else ""))

    def unbind(self, code: str, user_id: int | None = None) -> list[BoundChief]:
        """Close the bindings of a site (or of one user at it); the chiefs unbound."""
        now = self.now()
        with self.db.unit() as s:
            site = s.scalars(select(Site).where(Site.code == code)).first()
            if site is None:
                raise ReportError(f"没有考点代码为 {code} 的考点。可用 kaowu sites list 查看。")
            query = select(Binding).where(Binding.site_id == site.id,
                                          Binding.unbound_at.is_(None))  # fmt: skip
            if user_id is not None:
                query = query.where(Binding.user_id == user_id)
            rows = list(s.scalars(query))
            if not rows:
                who = f"用户 {user_id} " if user_id is not None else ""
                raise ReportError(f"考点 {code} {site.name} 当前没有{who}绑定，无需解除。")
            for b in rows:
                b.unbound_at = now
            return [BoundChief(int(b.user_id), b.user_name, aware(b.bound_at)) for b in rows]

    def reset_join_code(self, code: str) -> str:
        """Give a site a new join code (people already bound stay bound); the code, shown once."""
        join = new_join_code()
        with self.db.unit() as s:
            site = s.scalars(select(Site).where(Site.code == code)).first()
            if site is None:
                raise ReportError(f"没有考点代码为 {code} 的考点。可用 kaowu sites list 查看。")
            site.join_hash = hash_join_code(site.join_salt, join)
            site.join_code, site.updated_at = "", self.now()
        return join

    def bindings(self) -> dict[str, list[BoundChief]]:
        """Current bindings by site code."""
        out: dict[str, list[BoundChief]] = {}
        with self.db.read() as s:
            rows = s.execute(
                select(Site.code, Binding.user_id, Binding.user_name, Binding.bound_at)
                .join(Binding, Binding.site_id == Site.id)
                .where(Binding.unbound_at.is_(None))
                .order_by(Binding.bound_at)
            )
            for code, uid, name, at in rows:
                out.setdefault(code, []).append(BoundChief(int(uid), name, aware(at)))
        return out

    def wrong_code_count(self, user_id: int) -> int:
        """Wrong join codes sent by a user in the last hour."""
        since = self.now() - timedelta(hours=1)
        with self.db.read() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(BindAttempt)
                    .where(BindAttempt.user_id == user_id, BindAttempt.at > since)
                )
                or 0
            )

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


def _matches(site: Site, join_code: str) -> bool:
    if site.join_hash:
        return hmac.compare_digest(site.join_hash, hash_join_code(site.join_salt, join_code))
    # A row written without a hash (not through an import) compares as plaintext.
    return bool(site.join_code) and normalise_join_code(site.join_code) == normalise_join_code(
        join_code
    )
