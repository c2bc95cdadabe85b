"""Which sites a coordinator sees: all (the top level, 招生办) or those of some 区县.

Scopes come from `COORDINATOR_SCOPES` ("901=城区,开发区;902=城区") and/or a coordinators CSV
(`COORDINATORS_FILE`, header user_id,name,区县 — 区县 separated by 、 , ; or |, empty for all).
A user listed in neither but in `COORDINATOR_IDS` sees every site.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ScopeError(ValueError):
    """A coordinators file or setting that cannot be used; the message (Chinese) says why."""


class HasDistrict(Protocol):
    """Anything with a 区县 (a site view)."""

    @property
    def district(self) -> str:
        """The site's 区县."""
        ...


@dataclass(frozen=True)
class Scope:
    """The 区县 a coordinator may see; `districts` None means every site."""

    districts: frozenset[str] | None = None

    def allows(self, site: HasDistrict) -> bool:
        """Whether a site is in this scope."""
        return self.districts is None or site.district in self.districts

    @property
    def label(self) -> str:
        """How views name the scope: 全部考点 or the 区县."""
        return "全部考点" if self.districts is None else "、".join(sorted(self.districts))


ALL = Scope()
_SPLIT = re.compile(r"[、,，;；|/\s]+")


def _districts(text: str) -> frozenset[str] | None:
    names = frozenset(p for p in _SPLIT.split(text.strip()) if p)
    return names or None


@dataclass(frozen=True)
class Coordinator:
    """A coordinator: user id, name, scope."""

    user_id: int
    name: str
    scope: Scope


class Coordinators:
    """The coordinator directory: who is a coordinator and what each may see."""

    def __init__(
        self,
        ids: list[int],
        scopes: str = "",
        path: Path | None = None,
        resolve: Callable[[str], int] = int,
    ) -> None:
        # `resolve` turns a user reference (`123`, `telegram:123`, `dingtalk:manager01`) into
        # the internal user id; a bad one raises ValueError.
        self._resolve = resolve
        self.people: dict[int, Coordinator] = {i: Coordinator(i, "", ALL) for i in ids}
        for part in (p for p in re.split(r"[;；]", scopes) if p.strip()):
            ref, sep, names = part.partition("=")
            uid = self._user(ref) if sep else None
            if uid is None:
                raise ScopeError(f"COORDINATOR_SCOPES 中“{part.strip()}”应写成 用户id=区县,区县")
            self.people[uid] = Coordinator(uid, "", Scope(_districts(names)))
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScopeError(f"无法读取招生办人员名单 {path}：{exc}") from exc
        rows = list(csv.reader(io.StringIO(text)))
        header = [h.strip().lower() for h in (rows[0] if rows else [])]
        cols = {}
        for want, names in (("id", ("user_id", "用户id", "id")), ("name", ("name", "姓名")),
                            ("districts", ("districts", "district", "区县"))):  # fmt: skip
            found = next((i for i, h in enumerate(header) if h in names), None)
            if found is None and want != "name":
                raise ScopeError(
                    f"招生办人员名单 {Path(path).name} 第 1 行表头应含 user_id 和 区县"
                )
            cols[want] = found
        for line, row in enumerate(rows[1:], 2):
            if not any(c.strip() for c in row):
                continue
            cell = (
                row[cols["id"]].strip() if cols["id"] is not None and cols["id"] < len(row) else ""
            )
            uid = self._user(cell)
            if uid is None:
                raise ScopeError(
                    f"招生办人员名单第 {line} 行的用户 id“{cell}”无效：应为数字或 dingtalk:员工id"
                )
            name = (
                row[cols["name"]].strip()
                if cols["name"] is not None and cols["name"] < len(row)
                else ""
            )
            d = cols["districts"]
            districts = row[d] if d is not None and d < len(row) else ""
            self.people[uid] = Coordinator(uid, name, Scope(_districts(districts)))

    def _user(self, ref: str) -> int | None:
        """The internal id of a user reference, or None when it names no user."""
        try:
            return self._resolve(ref.strip())
        except ValueError:
            return None

    def __contains__(self, user_id: int) -> bool:
        return user_id in self.people

    def scope_of(self, user_id: int) -> Scope | None:
        """The user's scope, or None when the user is not a coordinator."""
        c = self.people.get(user_id)
        return c.scope if c else None

    def ids(self) -> list[int]:
        """Every coordinator's user id."""
        return list(self.people)
