"""Incidents with a lifecycle: first report, follow-ups, corrections, withdrawal,
acknowledgement by 招生办 and photos (the incident part of `ReportService`).

Rows are never changed: a correction or withdrawal is a new version of an entry, a follow-up is
a new entry of the thread, an acknowledgement and a photo are rows of their own. Notices they
cause (escalations, the reporter's receipt) are queued in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import prompts
from bot.reports.errors import ReportError
from bot.reports.forms import LEVELS
from bot.reports.incident_forms import IncidentForm, incident_problems
from bot.reports.limits import LIMITS, printable
from bot.reports.outbox import Outbox, PendingNotice
from bot.reports.schedule import Schedule
from bot.reports.scope import Scope
from bot.reports.views import IncidentView, ReportView, aware, incident_view
from bot.store.db import Database
from bot.store.models import Incident, IncidentAck, IncidentPhoto, Report, Site

V = TypeVar("V", ReportView, IncidentView)
Alerts = Callable[[IncidentView], list[PendingNotice]]

STAGES = ("首报", "续报", "终报")
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
               "image/gif": ".gif", "image/heic": ".heic"}  # fmt: skip
MAX_PHOTO_BYTES = 20 * 1024 * 1024


class IncidentBook:
    """The incident part of `ReportService` (a mixin over its database, clock and outbox)."""

    db: Database
    schedule: Schedule
    outbox: Outbox
    data_dir: Path | None

    def now(self) -> datetime:
        """Provided by `ReportService`."""
        raise NotImplementedError

    def today(self) -> date:
        """Provided by `ReportService`."""
        raise NotImplementedError

    def _once(self, key: str | None, kind: str, write: Callable[[Session], V],
              load: Callable[[Session, int], V]) -> tuple[V, bool]:  # fmt: skip
        raise NotImplementedError

    def _bound_site(self, s: Session, user_id: int, lock: bool = False) -> Site:
        raise NotImplementedError

    # ------------------------------------------------------------------ writing
    def add_incident(
        self,
        user_id: int,
        user_name: str,
        form: IncidentForm,
        key: str | None = None,
        alerts: Alerts | None = None,
        *,
        stage: str = "首报",
        thread: int | None = None,
    ) -> tuple[IncidentView, bool]:
        """Store a first report (or, with `thread`, a 续报/终报 of it) for the user's site and
        today; (incident, was_duplicate). The notices from `alerts` are queued in the same
        transaction, so the incident is never stored without them."""
        _check(form)
        if stage not in STAGES or (stage == "首报") != (thread is None):
            raise ReportError(prompts.load("incident_followup_needs_number"))
        user_name = printable(user_name)[: LIMITS["user_name"].chars]  # a label, not content

        def write(s: Session) -> IncidentView:
            site = self._bound_site(s, user_id, lock=True)
            root_id = None
            if thread is not None:
                entries = self._entries(s, self._thread_root(s, thread, site))
                root = entries[0]
                if root.withdrawn:
                    raise ReportError(prompts.render("incident_withdrawn_already", number=root.id,
                                                     action=stage))  # fmt: skip
                if any(e.stage == "终报" and not e.withdrawn for e in entries):
                    raise ReportError(
                        prompts.render("incident_closed", number=root.id, action=stage)
                    )
                root_id = root.id
            return self._store(s, site, form, user_id, user_name, alerts,
                               report_date=self.today(), stage=stage, thread_id=root_id,
                               origin_id=None, version=1, withdrawn=False)  # fmt: skip

        return self._once(key, "incident", write, self._load_row)

    def _store(
        self, s: Session, site: Site, form: IncidentForm, user_id: int, user_name: str,
        alerts: Alerts | None, **lifecycle: Any,
    ) -> IncidentView:  # fmt: skip
        """Add one incident row (a first report, follow-up or new version) and queue its
        notices in the same transaction."""
        row = Incident(
            site=site, level=form.level, description=form.description.strip(),
            room=form.room.strip(), occurred=form.occurred.strip(),
            measures=form.measures.strip(), reported_by=user_id, reported_name=user_name,
            reported_at=self.now(), **lifecycle,
        )  # fmt: skip
        s.add(row)
        s.flush()
        view = self._view(s, row)
        if alerts is not None:
            self.outbox.add(s, alerts(view))
        return view

    def revise_incident(
        self,
        user_id: int,
        user_name: str,
        number: int,
        form: IncidentForm | None,
        key: str | None = None,
        alerts: Alerts | None = None,
    ) -> tuple[IncidentView, bool]:
        """Store a correction of entry `number` (`form` None: its withdrawal) as its next
        version; (new version, was_duplicate)."""
        if form is not None:
            _check(form)
        user_name = printable(user_name)[: LIMITS["user_name"].chars]

        def write(s: Session) -> IncidentView:
            site = self._bound_site(s, user_id, lock=True)
            current = self._current(s, number, site)
            if current.withdrawn:
                raise ReportError(prompts.render("incident_withdrawn_already", number=number,
                                                 action="更正或撤回"))  # fmt: skip
            source = form or IncidentForm(current.level, current.description, current.room,
                                          current.occurred, current.measures)  # fmt: skip
            return self._store(
                s, site, source, user_id, user_name, alerts, report_date=current.report_date,
                stage=current.stage, thread_id=current.thread_id or current.origin_id or current.id,
                origin_id=current.origin_id or current.id, version=current.version + 1,
                withdrawn=form is None,
            )  # fmt: skip

        return self._once(key, "incident", write, self._load_row)

    def acknowledge(
        self, incident_id: int, user_id: int, user_name: str,
        receipt: Callable[[IncidentView], list[PendingNotice]] | None = None,
    ) -> tuple[IncidentView, bool]:  # fmt: skip
        """Record 招生办's acknowledgement of the thread of `incident_id` and queue the
        reporter's receipt with it; (thread's first report, whether this was the first)."""
        user_name = printable(user_name)[: LIMITS["user_name"].chars]
        try:
            with self.db.unit() as s:
                root = self._thread_root(s, incident_id, None)
                if s.scalar(select(IncidentAck.id).where(IncidentAck.incident_id == root)):
                    return self._thread_view(s, root), False
                s.add(IncidentAck(incident_id=root, user_id=user_id, user_name=user_name,
                                  acknowledged_at=self.now()))  # fmt: skip
                s.flush()
                view = self._thread_view(s, root)
                if receipt is not None:
                    self.outbox.add(s, receipt(view))
                return view, True
        except IntegrityError:  # another coordinator was a moment faster
            with self.db.read() as s:
                return self._thread_view(s, self._thread_root(s, incident_id, None)), False

    def acknowledge_incident(self, incident_id: int, user_id: int, user_name: str) -> IncidentView:
        """招生办 acknowledges an incident (any number of its thread): the first report as it
        now stands. The reporter is told, once, through the notices outbox."""
        from bot.reports.incident_text import receipt_notices

        return self.acknowledge(incident_id, user_id, user_name,
                                receipt=lambda v: receipt_notices(self, v))[0]  # fmt: skip

    def attach_photo(
        self, user_id: int, data: bytes, mime: str, number: int | None = None
    ) -> IncidentView:
        """Keep a photo of the user's site's incident `number` (default: its latest incident
        today) under the data directory; the thread's first report with its photos."""
        suffix = PHOTO_TYPES.get(mime.lower())
        if suffix is None:
            raise ReportError(prompts.load("photo_bad_type"))
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise ReportError(prompts.load("attachment_too_large"))
        if self.data_dir is None:
            raise ReportError(prompts.load("photo_no_data_dir"))
        if number is None:
            number = self.latest_incident(user_id)
            if number is None:
                raise ReportError(prompts.load("photo_no_incident"))
        with self.db.read() as s:
            site = self._bound_site(s, user_id)
            root = self._thread_root(s, number, site)
            code = site.code
        digest = hashlib.sha256(data).hexdigest()[:16]
        relative = Path("attachments") / _safe(code) / f"{root}-{digest}{suffix}"
        target = self.data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        existed = target.exists()
        target.write_bytes(data)
        try:
            with self.db.unit() as s:
                known = s.scalar(select(IncidentPhoto.id).where(
                    IncidentPhoto.incident_id == root, IncidentPhoto.path == relative.as_posix()))  # fmt: skip
                if known is None:
                    s.add(IncidentPhoto(incident_id=root, path=relative.as_posix(),
                                        added_by=user_id, added_at=self.now()))  # fmt: skip
                    s.flush()
                return self._thread_view(s, root)
        except Exception:
            if not existed:  # no row points at it: leave no stray file behind
                target.unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ reading
    def incidents(
        self, start: date, end: date | None = None, scope: Scope | None = None
    ) -> list[IncidentView]:
        """Incident threads first reported in a day or range (at the sites in `scope`),
        withdrawn ones left out, most severe first: each as its first report stands now, with
        the thread's latest level."""
        end = end or start
        with self.db.read() as s:
            # Every row of the threads first reported in the range, their acknowledgements and
            # photos: three queries however many incidents (status views list them all).
            first = (
                select(Incident.id)
                .where(Incident.report_date >= start, Incident.report_date <= end,
                       Incident.thread_id.is_(None), Incident.origin_id.is_(None))
                .scalar_subquery()
            )  # fmt: skip
            rows = list(s.scalars(select(Incident).where(
                or_(Incident.id.in_(first), Incident.thread_id.in_(first)))))  # fmt: skip
            acks = {a.incident_id: a for a in s.scalars(
                select(IncidentAck).where(IncidentAck.incident_id.in_(first)))}  # fmt: skip
            photos: dict[int, list[str]] = {}
            for root, path in s.execute(select(IncidentPhoto.incident_id, IncidentPhoto.path)
                                        .where(IncidentPhoto.incident_id.in_(first))
                                        .order_by(IncidentPhoto.id)):  # fmt: skip
                photos.setdefault(root, []).append(path)
            threads: dict[int, list[Incident]] = {}
            for r in rows:
                threads.setdefault(r.thread_id or r.id, []).append(r)
            views = [
                self._summarise(_current_entries(t), acks.get(root), tuple(photos.get(root, ())))
                for root, t in threads.items()
            ]
        views = [v for v in views if not v.withdrawn and (scope is None or scope.allows(v.site))]
        return sorted(views, key=lambda v: (v.day, -LEVELS.index(v.level), v.reported_at))

    def incident_thread(self, incident_id: int) -> list[IncidentView]:
        """The first report and its follow-ups as each stands now (withdrawn ones flagged)."""
        with self.db.read() as s:
            root = self._thread_root(s, incident_id, None)
            extra = self._thread_extra(s, root)
            return [incident_view(e, **extra) for e in self._entries(s, root)]

    def thread_levels(self, incident_id: int) -> set[str]:
        """Every level a thread has had, in any version (was it ever escalated?)."""
        with self.db.read() as s:
            root = self._thread_root(s, incident_id, None)
            return set(s.scalars(select(Incident.level).where(
                or_(Incident.id == root, Incident.thread_id == root))))  # fmt: skip

    def incident(self, incident_id: int, user_id: int | None = None) -> IncidentView:
        """One entry as it stands now (with `user_id`: only of that user's site)."""
        with self.db.read() as s:
            site = self._bound_site(s, user_id) if user_id is not None else None
            row = self._current(s, incident_id, site)
            return self._view(s, row)

    def zero_then_incident(self, day: date, only: str | None = None) -> set[str]:
        """Codes of sites whose current report of `day` is a 零报告 although an incident of
        theirs (not withdrawn) was reported that day: their report must be corrected.
        `only`: look at that one site (cheap when its report is not a zero report)."""
        with self.db.read() as s:
            top = (
                select(Report.site_id, func.max(Report.version).label("v"))
                .where(Report.report_date == day)
                .group_by(Report.site_id)
                .subquery()
            )
            query = select(Site.code).join(Report, Report.site_id == Site.id).join(
                top, (Report.site_id == top.c.site_id) & (Report.version == top.c.v)
            ).where(Report.report_date == day, Report.kind == "zero")  # fmt: skip
            if only is not None:
                query = query.where(Site.code == only)
            zero = set(s.scalars(query))
        if not zero:
            return set()
        return {v.site.code for v in self.incidents(day)} & zero

    def open_incidents(self, user_id: int, day: date | None = None) -> int:
        """How many incident threads (not withdrawn) the user's site has on a day."""
        day = day or self.today()
        with self.db.read() as s:
            site = self._bound_site(s, user_id)
            code = site.code
        return sum(1 for v in self.incidents(day) if v.site.code == code)

    def latest_incident(self, user_id: int, open_only: bool = False) -> int | None:
        """The number of the user's site's latest incident thread today (open: not closed)."""
        with self.db.read() as s:
            site = self._bound_site(s, user_id)
            code = site.code
        found = [v for v in self.incidents(self.today()) if v.site.code == code]
        if open_only:
            found = [v for v in found if v.status != "已处置"]
        return max((v.id for v in found), default=None)

    # ------------------------------------------------------------------ helpers
    def _load_row(self, s: Session, row_id: int) -> IncidentView:
        row = s.get(Incident, row_id)
        if row is None:
            raise ReportError("找不到这条记录")
        return self._view(s, row)

    def _view(self, s: Session, row: Incident) -> IncidentView:
        return incident_view(row, **self._thread_extra(s, row.thread_id or row.id))

    def _thread_root(self, s: Session, number: int, site: Site | None) -> int:
        row = s.get(Incident, number)
        if row is None or (site is not None and row.site_id != site.id):
            raise ReportError(prompts.render("incident_not_found", number=number))
        return row.thread_id or row.origin_id or row.id

    def _current(self, s: Session, number: int, site: Site | None) -> Incident:
        row = s.get(Incident, number)
        if row is None or (site is not None and row.site_id != site.id):
            raise ReportError(prompts.render("incident_not_found", number=number))
        origin = row.origin_id or row.id
        latest = s.scalars(
            select(Incident)
            .where(or_(Incident.id == origin, Incident.origin_id == origin))
            .order_by(Incident.version.desc())
            .limit(1)
        ).first()
        assert latest is not None
        return latest

    def _entries(self, s: Session, root: int) -> list[Incident]:
        """The current version of each entry of a thread, first report first."""
        return _current_entries(s.scalars(select(Incident).where(
            or_(Incident.id == root, Incident.thread_id == root))))  # fmt: skip

    def _thread_extra(self, s: Session, root: int) -> dict[str, Any]:
        ack = s.scalars(select(IncidentAck).where(IncidentAck.incident_id == root)).first()
        photos = tuple(s.scalars(select(IncidentPhoto.path).where(
            IncidentPhoto.incident_id == root).order_by(IncidentPhoto.id)))  # fmt: skip
        return _extra(self._entries(s, root), ack, photos)

    def _live_threads(self, s: Session, site_id: int, day: date) -> int:
        """How many incident threads (not withdrawn) a site first reported on a day."""
        roots = s.scalars(select(Incident.id).where(
            Incident.site_id == site_id, Incident.report_date == day,
            Incident.thread_id.is_(None), Incident.origin_id.is_(None)))  # fmt: skip
        return sum(1 for r in list(roots) if not self._entries(s, r)[0].withdrawn)

    def _thread_view(self, s: Session, root: int) -> IncidentView:
        """The thread as one line: its first report now, with the latest entry's level."""
        ack = s.scalars(select(IncidentAck).where(IncidentAck.incident_id == root)).first()
        photos = tuple(s.scalars(select(IncidentPhoto.path).where(
            IncidentPhoto.incident_id == root).order_by(IncidentPhoto.id)))  # fmt: skip
        return self._summarise(self._entries(s, root), ack, photos)

    @staticmethod
    def _summarise(
        entries: list[Incident], ack: IncidentAck | None, photos: tuple[str, ...]
    ) -> IncidentView:
        view = incident_view(entries[0], **_extra(entries, ack, photos))
        live = [e for e in entries if not e.withdrawn]
        if live and live[-1].level in LEVELS:
            view = replace(view, level=live[-1].level)
        return view


def _current_entries(rows: Iterable[Incident]) -> list[Incident]:
    """The current (highest) version of each entry among a thread's rows, first report first."""
    latest: dict[int, Incident] = {}
    for r in rows:
        origin = r.origin_id or r.id
        if origin not in latest or r.version > latest[origin].version:
            latest[origin] = r
    return [latest[k] for k in sorted(latest)]


def _extra(
    entries: list[Incident], ack: IncidentAck | None, photos: tuple[str, ...]
) -> dict[str, Any]:
    """A thread's state shown on each of its entries."""
    closed = any(e.stage == "终报" and not e.withdrawn for e in entries)
    return {
        "status": "已处置" if closed else "处置中",
        "acknowledged_name": ack.user_name if ack else "",
        "acknowledged_at": aware(ack.acknowledged_at) if ack else None,
        "photos": photos,
    }


def _check(form: IncidentForm) -> None:
    if form.level not in LEVELS or not form.description.strip():
        raise ReportError(prompts.load("incident_incomplete"))
    problems = incident_problems(form)
    if problems:
        raise ReportError("\n".join(problems))


def _safe(code: str) -> str:
    """A site code as a folder name (codes are digits in practice; anything else is hashed)."""
    if code.isascii() and code.replace("-", "").replace("_", "").isalnum():
        return code
    return hashlib.sha256(code.encode()).hexdigest()[:12]
