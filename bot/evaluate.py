"""`kaowu eval`: run a question set and report retrieval and refusal quality.

Question set format (JSON lines): {"id", "question", "accept": [{"source", "expect": [phrases]}]}.
An empty `accept` marks a question the knowledge base should decline.
A citation hits when its source matches and its quote contains one of the expected phrases.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.qa import Answer, Citation
from knowledge.textutil import match_key


@dataclass
class EvalResult:
    """Per-question outcome."""

    id: str
    question: str
    answerable: bool
    answered: bool
    hit_rank: int | None  # 1-based rank of the first correct citation
    quotes: list[str] = field(default_factory=list)
    mode: str = "extractive"


@dataclass
class EvalReport:
    """Aggregate metrics over a question set."""

    results: list[EvalResult]

    def _answerable(self) -> list[EvalResult]:
        return [r for r in self.results if r.answerable]

    def hit_at(self, k: int) -> float:
        """Share of answerable questions with a correct citation among the first k."""
        rows = self._answerable()
        return sum(1 for r in rows if r.hit_rank is not None and r.hit_rank <= k) / max(
            len(rows), 1
        )

    @property
    def refusal_rate(self) -> float:
        """Share of unanswerable questions that were declined."""
        rows = [r for r in self.results if not r.answerable]
        return sum(1 for r in rows if not r.answered) / max(len(rows), 1)

    @property
    def false_refusal_rate(self) -> float:
        """Share of answerable questions that were declined."""
        rows = self._answerable()
        return sum(1 for r in rows if not r.answered) / max(len(rows), 1)

    @property
    def median_quote(self) -> float:
        """Median length in characters of the quotes shown."""
        lengths = [len(q) for r in self.results for q in r.quotes]
        return float(statistics.median(lengths)) if lengths else 0.0

    def metrics(self) -> dict[str, Any]:
        """All figures as one dict."""
        return {
            "questions": len(self.results),
            "answerable": len(self._answerable()),
            "hit@1": round(self.hit_at(1), 3),
            "hit@3": round(self.hit_at(3), 3),
            "hit@5": round(self.hit_at(5), 3),
            "refusal_rate": round(self.refusal_rate, 3),
            "false_refusal_rate": round(self.false_refusal_rate, 3),
            "median_quote_chars": self.median_quote,
            "generated_answers": sum(1 for r in self.results if r.mode == "llm" and r.answered),
        }


def read_questions(path: Path) -> list[dict[str, Any]]:
    """Questions from a JSONL file; a malformed line raises ValueError naming its number."""
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"第 {n} 行不是合法的 JSON：{exc.msg}") from exc
        if not isinstance(row, dict) or not row.get("question"):
            raise ValueError(f"第 {n} 行缺少 question 字段")
        row.setdefault("id", str(n))
        rows.append(row)
    return rows


def _source_matches(citation: Citation, expected: str) -> bool:
    name = citation.source
    return name == expected or Path(name).stem == expected or name.startswith(expected)


def first_hit(citations: Iterable[Citation], accept: list[dict[str, Any]]) -> int | None:
    """1-based rank of the first citation with an accepted source and expected phrase."""
    for rank, c in enumerate(citations, 1):
        quote = match_key(c.quote)
        for a in accept:
            if _source_matches(c, a["source"]) and any(
                match_key(e) in quote for e in a.get("expect", [])
            ):
                return rank
    return None


def evaluate(ask: Callable[[str], Answer], questions: list[dict[str, Any]]) -> EvalReport:
    """Ask every question and score the answers."""
    results = []
    for q in questions:
        answer = ask(q["question"])
        accept = q.get("accept") or []
        results.append(
            EvalResult(
                id=str(q["id"]),
                question=q["question"],
                answerable=bool(accept),
                answered=answer.answered,
                hit_rank=first_hit(answer.citations, accept) if answer.answered else None,
                quotes=[c.quote for c in answer.citations],
                mode=answer.mode,
            )
        )
    return EvalReport(results)
