"""Free text that means a report action, recognised by a few general patterns (not a list of
sentences): normalised text, no question, a statement that all is well or a 零报告 by name."""

from __future__ import annotations

import re

from bot.messages import normalise

# A question is answered as a question, whatever it is about.
_QUESTION = re.compile(r"[?？]|吗|怎么|怎样|如何|什么|哪|是否|能否|为何|为什么|多少|几|要不要|"
                       r"可不可以|能不能|请问|呢")  # fmt: skip
# "all is well": 正常 / 无异常 / 平稳 … and a 零报告 named outright.
_WELL = re.compile(r"零报告|零报|(?:一切|均|都|全部|考务|秩序|考试)?正常|(?:无|没有|未发生|未出现)"
                   r"(?:任何)?(?:异常|事件|情况|问题|特殊情况)|平稳|顺利|平安")  # fmt: skip
# A contrast or an event means something did happen ("其他正常，但3号考场停电").
_BUT = re.compile(r"但|不过|除了|除|其他|其余|只是|可是|不正常|(?<![无没未])有(?:异常|事件|情况|问题)|"
                  r"(?<![没未无])发生|(?<![没未无])出现|停电|作弊|违纪|携带|迟到|缺考\d|生病|晕倒")  # fmt: skip
_MAX_CHARS = 40


def means_zero_report(text: str) -> bool:
    """Whether a short statement says today's exam work went normally (a 零报告)."""
    t = normalise(text)
    if not t or t.startswith("/") or len(t) > _MAX_CHARS:
        return False
    if _QUESTION.search(t) or _BUT.search(t):
        return False
    return _WELL.search(t) is not None
