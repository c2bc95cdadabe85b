"""Who is who across platforms: (platform, platform id) <-> one internal integer id.

Every stored user or chat id (bindings, reports, incidents, answers, feedback, notices) is an
internal id, so the report services never need to know the platform. A Telegram id is its own
internal id: Telegram user and chat ids have at most 52 significant bits, so existing rows stay
valid unchanged. Other platforms (DingTalk ids are strings) get ids allocated from their own block
above 2**53, which is how any id tells its platform without a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database
from bot.store.models import Identity

Platform = Literal["telegram", "dingtalk"]
Kind = Literal["user", "group"]

NATIVE: Platform = "telegram"
_BLOCK = 2**53
# Block of each platform whose ids are allocated (never reorder: stored ids depend on it).
_BLOCKS: dict[str, int] = {"dingtalk": 1}


@dataclass(frozen=True)
class Who:
    """A user or group chat as its platform knows it."""

    id: int
    platform: str
    kind: str
    platform_id: str
    name: str


def platform_of(internal_id: int) -> str:
    """The platform an internal user or chat id belongs to."""
    block = abs(internal_id) // _BLOCK
    if block == 0:
        return NATIVE
    for platform, b in _BLOCKS.items():
        if b == block:
            return platform
    raise ValueError(f"id {internal_id} belongs to no known platform")


def parse_ref(ref: int | str) -> tuple[str, str]:
    """`telegram:123`, `dingtalk:manager01` or a bare Telegram number -> (platform, id)."""
    if isinstance(ref, int):
        return NATIVE, str(ref)
    platform, sep, value = ref.strip().partition(":")
    if not sep:
        return NATIVE, str(int(platform))
    platform = platform.strip().lower()
    if platform != NATIVE and platform not in _BLOCKS:
        raise ValueError(f"unknown platform {platform!r}")
    if not value.strip():
        raise ValueError(f"{ref!r} names no id")
    return platform, value.strip() if platform != NATIVE else str(int(value))


class Identities:
    """Resolves platform ids to internal ids (creating them on first sight) and back."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[str, str, str], int] = {}

    def resolve(self, platform: str, platform_id: str, kind: Kind = "user", name: str = "") -> int:
        """The internal id of a platform user or group chat, allocated the first time."""
        key = (platform, kind, platform_id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        for _ in range(5):  # a concurrent first sight of another id may take the same number
            try:
                found = self._resolve(platform, kind, platform_id, name)
            except IntegrityError:
                continue
            self._cache[key] = found
            return found
        raise RuntimeError(f"could not allocate an id for {platform}:{platform_id}")

    def _resolve(self, platform: str, kind: str, platform_id: str, name: str) -> int:
        with self.db.unit() as s:
            row = s.scalars(
                select(Identity).where(
                    Identity.platform == platform,
                    Identity.kind == kind,
                    Identity.platform_id == platform_id,
                )
            ).first()
            if row is not None:
                if name and row.display_name != name:
                    row.display_name = name[:200]
                return int(row.id)
            if platform == NATIVE:
                new_id = int(platform_id)
            else:
                lo = _BLOCKS[platform] * _BLOCK
                top = s.scalar(
                    select(func.max(Identity.id)).where(
                        Identity.id >= lo, Identity.id < lo + _BLOCK
                    )
                )
                new_id = int(top or lo) + 1
            s.add(
                Identity(
                    id=new_id, platform=platform, kind=kind, platform_id=platform_id,
                    display_name=name[:200], created_at=datetime.now(UTC),
                )
            )  # fmt: skip
            s.flush()
            return new_id

    def resolve_ref(self, ref: int | str, kind: Kind = "user") -> int:
        """The internal id of a settings entry such as `dingtalk:manager01` or `123`."""
        platform, value = parse_ref(ref)
        if platform == NATIVE:
            return int(value)
        return self.resolve(platform, value, kind)

    def who(self, internal_id: int) -> Who | None:
        """The platform user or chat behind an internal id (None when never seen)."""
        with self.db.read() as s:
            row = s.get(Identity, internal_id)
            if row is None:
                if platform_of(internal_id) == NATIVE:  # Telegram ids need no row to be known
                    kind = "user" if internal_id > 0 else "group"
                    return Who(internal_id, NATIVE, kind, str(internal_id), "")
                return None
            return Who(int(row.id), row.platform, row.kind, row.platform_id, row.display_name)
