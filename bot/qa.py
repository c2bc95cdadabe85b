"""Question answering over the knowledge index: extractive answers with exact citations.

The answer is built only from source sentences. Each candidate sentence is scored by how much
of the question's weighted key terms it (and its headings) contain, and by the dense similarity
of its chunk. When the best evidence does not cover the question's key terms, kaowu says the
knowledge base does not cover it instead of quoting the nearest passage.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import prompts
from bot.settings import AnswerSettings
from ingest.clean import to_simplified
from ingest.index import Hit, KnowledgeIndex
from ingest.lexical import key_terms, subwords
from ingest.textutil import char_shingles, overlap, split_sentences

# Weight of a one-character word relative to its idf: mostly light verbs (做, 打, 用).
_SINGLE_CHAR_WEIGHT = 0.35
# Credit for a compound term whose parts appear but not the whole (英语 + 听力 for 英语听力).
_PART_CREDIT = 0.7
# A two-sentence quote must stay short, and must cover clearly more than one sentence would.
_PAIR_MAX_CHARS = 160
_PAIR_PENALTY = 0.15
# Further citations: at least this share of the best one's score and sentence coverage.
_SECOND_REL_SCORE = 0.6
_SECOND_REL_COV = 0.6
_SECOND_MIN_COV = 0.3


class InvalidQuestion(ValueError):
    """A question that cannot be asked as written; the message (Chinese) says how to fix it."""


@dataclass
class Citation:
    """One numbered source of an answer."""

    n: int
    source: str
    title: str
    section: str
    quote: str
    score: float
    chunk_id: str = ""
    path: str = ""
    start: int = 0
    end: int = 0

    def public(self) -> dict[str, Any]:
        """The fields of the JSON contract."""
        return {k: v for k, v in asdict(self).items() if k in _PUBLIC_CITATION}


_PUBLIC_CITATION = ("n", "source", "title", "section", "quote", "score")


@dataclass
class Answer:
    """The result of a question, answered or declined."""

    question: str
    answered: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    removed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `kaowu ask --json` object."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "citations": [c.public() for c in self.citations],
            "mode": self.mode,
            "removed": self.removed,
        }


@dataclass
class Candidate:
    """A sentence that might answer the question, with the features used to rank it."""

    hit: Hit
    start: int  # offsets in the document's cleaned text
    end: int
    text: str
    sentence_cov: float
    context_cov: float
    pair: bool = False
    score: float = 0.0


@dataclass
class Evidence:
    """Ranked candidate sentences and whether they are good enough to answer."""

    question: str
    candidates: list[Candidate]
    covered: bool


class QAService:
    """Answers questions from the knowledge index."""

    def __init__(self, index: KnowledgeIndex, settings: AnswerSettings) -> None:
        self.index = index
        self.settings = settings

    # ------------------------------------------------------------------ public
    def normalise(self, question: str) -> str:
        """Check and tidy a question; raise InvalidQuestion with a Chinese message if unusable."""
        q = re.sub(r"\s+", " ", question or "").strip()
        if not q or not re.search(r"[\w\u3400-\u9fff]", q):
            raise InvalidQuestion(prompts.load("question_empty"))
        if len(q) > self.settings.max_question_chars:
            raise InvalidQuestion(
                prompts.render(
                    "question_too_long", length=len(q), limit=self.settings.max_question_chars
                )
            )
        return q

    def ask(self, question: str) -> Answer:
        """Answer a question extractively, or decline when the knowledge base does not cover it."""
        q = self.normalise(question)
        if not key_terms(to_simplified(q)):
            raise InvalidQuestion(prompts.load("question_vague"))
        evidence = self.retrieve(q)
        if not evidence.covered:
            return self.not_covered(q)
        return self.extractive(evidence)

    def not_covered(self, question: str) -> Answer:
        """The polite refusal for a question the knowledge base does not cover."""
        return Answer(
            question=question,
            answered=False,
            answer=prompts.render("not_covered", contact=self.settings.fallback_contact),
        )

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, question: str) -> Evidence:
        """Find and rank candidate sentences for a (normalised) question."""
        query = to_simplified(question)
        hits = self.index.search(query, k=8)
        terms = self._weighted_terms(query)
        candidates: list[Candidate] = []
        for hit in hits:
            chunk = hit.chunk
            context = f"{chunk.context}\n{chunk.text}"
            context_cov = _coverage(terms, context)
            sentences = [
                s
                for s in split_sentences(chunk.text, base=chunk.start)
                if len(re.sub(r"\W", "", s.text)) >= 6
            ]
            for i, s in enumerate(sentences):
                candidates.append(
                    Candidate(hit, s.start, s.end, s.text, _coverage(terms, s.text), context_cov)
                )
                # Two neighbouring sentences may answer together what neither does alone
                # ("…报名人数…；共设立考点56个…").
                if i + 1 < len(sentences):
                    nxt = sentences[i + 1]
                    text = chunk.text[s.start - chunk.start : nxt.end - chunk.start]
                    if len(text) <= _PAIR_MAX_CHARS and "\n" not in text:
                        candidates.append(
                            Candidate(
                                hit,
                                s.start,
                                nxt.end,
                                text,
                                _coverage(terms, text),
                                context_cov,
                                pair=True,
                            )
                        )
        for c in candidates:
            c.score = _rank_score(c)
        candidates.sort(key=lambda c: -c.score)
        covered = bool(candidates) and self._covers(candidates[0])
        return Evidence(question, candidates, covered)

    def _covers(self, best: Candidate) -> bool:
        floor = self.settings.min_dense
        if floor is None:
            floor = self.index.embedder.relevance_floor
        return best.context_cov >= self.settings.min_coverage and best.hit.dense >= floor

    def _weighted_terms(self, query: str) -> list[tuple[str, float, list[str]]]:
        out = []
        for t in key_terms(query):
            w = self.index.idf(t) * (_SINGLE_CHAR_WEIGHT if len(t) == 1 else 1.0)
            out.append((t, w, subwords(t)))
        return out

    # ------------------------------------------------------------------ answers
    def select(self, evidence: Evidence) -> list[Candidate]:
        """Up to `max_citations` strong, distinct sentences, best first."""
        chosen: list[Candidate] = []
        if not evidence.candidates:
            return chosen
        best = evidence.candidates[0]
        # A further citation must itself carry a good part of the question, not just share
        # one common word with it.
        floor = max(_SECOND_MIN_COV, _SECOND_REL_COV * best.sentence_cov)
        shingles: list[set[str]] = []
        for c in evidence.candidates:
            if len(chosen) >= self.settings.max_citations:
                break
            if chosen and (
                c.score < _SECOND_REL_SCORE * best.score
                or c.sentence_cov < floor
                or c.context_cov < self.settings.min_coverage
            ):
                continue
            sh = char_shingles(c.text)
            if any(overlap(sh, other) >= 0.7 for other in shingles):
                continue
            shingles.append(sh)
            chosen.append(c)
        return chosen

    def extractive(self, evidence: Evidence) -> Answer:
        """An answer made of the selected source sentences, each marked [n]."""
        chosen = self.select(evidence)
        citations = [self.citation(i + 1, c) for i, c in enumerate(chosen)]
        answer = "".join(f"{c.quote}[{c.n}]" for c in citations)
        return Answer(evidence.question, bool(citations), answer, citations)

    @staticmethod
    def citation(n: int, c: Candidate) -> Citation:
        """A numbered citation for a candidate sentence."""
        chunk = c.hit.chunk
        return Citation(
            n=n,
            source=chunk.source,
            title=chunk.title,
            section=chunk.section,
            quote=c.text,
            score=round(c.score, 4),
            chunk_id=chunk.id,
            path=chunk.path,
            start=c.start,
            end=c.end,
        )


def _coverage(terms: list[tuple[str, float, list[str]]], text: str) -> float:
    """Share of the question's term weight found in `text` (compound terms get partial credit)."""
    total = sum(w for _, w, _ in terms)
    if total <= 0:
        return 0.0
    low = text.lower()
    got = 0.0
    for term, w, parts in terms:
        if term in low:
            got += w
        elif parts:
            got += w * _PART_CREDIT * sum(p in low for p in parts) / len(parts)
    return got / total


def _rank_score(c: Candidate) -> float:
    """Sentence evidence first, its chunk's context and dense similarity as tie-breakers."""
    dense = max(0.0, (c.hit.dense - 0.8) / 0.15)
    return c.sentence_cov + 0.5 * c.context_cov + 0.5 * dense - (_PAIR_PENALTY if c.pair else 0.0)
