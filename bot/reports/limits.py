"""Length limits of every stored text field, declared once.

The models size their columns from this table and the forms and the sites import validate
against it, so a value over a limit is refused with a message naming the field — on SQLite (which
would store anything) exactly as on PostgreSQL (which would fail) — and never cut short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """The most characters a field may hold, and its name as users know it."""

    label: str
    chars: int


LIMITS: dict[str, Limit] = {
    # daily report
    "duty": Limit("保密室值班情况", 500),
    "equipment": Limit("设备情况", 500),
    "remarks": Limit("备注", 2000),
    # incident
    "description": Limit("事件经过", 2000),
    "room": Limit("考场", 32),
    "occurred": Limit("发生时间", 32),
    "measures": Limit("已采取措施", 1000),
    # sites file
    "code": Limit("考点代码", 32),
    "name": Limit("考点名称", 200),
    "district": Limit("区县", 100),
    "join_code": Limit("加入码", 64),
    # who submitted (platform display names)
    "user_name": Limit("姓名", 200),
}


# Control characters (NUL above all) that PostgreSQL refuses in text and no person means to send.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def field_problem(field: str, value: str) -> str | None:
    """The Chinese message when `value` cannot be stored in `field` as it is, else None."""
    limit = LIMITS[field]
    if _CONTROL.search(value):
        return (
            f"「{limit.label}」里有无法保存的控制字符（多为复制粘贴带入）。"
            "请删去后重新填写；这一次什么都没有保存。"
        )
    if len(value) <= limit.chars:
        return None
    return (
        f"「{limit.label}」最多 {limit.chars} 个字，你写了 {len(value)} 个字。"
        "请精简后重新填写（可分几次报告）；这一次什么都没有保存。"
    )


def printable(text: str) -> str:
    """`text` without control characters: for logged text that is not user content to confirm
    (questions in the answer log, display names), which PostgreSQL would otherwise refuse."""
    return _CONTROL.sub("", text)


def clip(text: str, chars: int = 30) -> str:
    """`text` for echoing back in a message: at most `chars` characters, with an ellipsis."""
    return text if len(text) <= chars else text[:chars] + "…"
