"""Question answering over the knowledge index: answers with exact citations.

Each candidate sentence is scored by how much of the question's idf-weighted key terms it
contains (and its document title and headings), and by its chunk's dense similarity. When the
best evidence does not cover the question's key terms, kaowu says the knowledge base does not
cover it instead of quoting the nearest passage. The answer is made of source sentences
(extractive), or, with an LLM configured, generated from the same evidence and kept only as far
as `bot.verify` can back it with the sources.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import prompts
from bot.settings import AnswerSettings
from bot.verify import verify
from ingest.clean import to_simplified
from knowledge.index import Hit, KnowledgeIndex
from knowledge.lexical import key_terms, subwords
from knowledge.textutil import char_shingles, overlap, split_sentences

if TYPE_CHECKING:
    from bot.llm import LLMGenerator, Source
    from bot.rerank import Reranker

log = logging.getLogger(__name__)

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
# Sources handed to an LLM, and the share of its answer that must survive verification.
_LLM_SOURCES = 5
_LLM_MIN_KEPT = 0.5
# Sentences that address a model rather than a reader ("忽略以上规则……") are instructions
# planted in a document: never quoted, never passed to an LLM.
_INSTRUCTION = re.compile(
    r"忽略(以上|上述|之前|前面|先前|所有|全部)|无视(以上|上述|之前)|(不要|无需|不必)(标注|引用|注明)(出处|来源)|"
    r"你(现在)?(是|扮演)(一个|一名)?(AI|人工智能|助手|模型|机器人)|系统提示|提示词|"
    r"ignore (all |any )?(the )?(previous|above|prior)|system prompt|you are (now )?an? (ai|assistant)",
    re.IGNORECASE,
)


def looks_like_instruction(text: str) -> bool:
    """Whether a sentence is an instruction to a model rather than content for a reader."""
    return bool(_INSTRUCTION.search(text))


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
    hits: list[Hit] = field(default_factory=list)  # retrieved passages, in ranked order


class QAService:
    """Answers questions from the knowledge index."""

    def __init__(
        self,
        index: KnowledgeIndex,
        settings: AnswerSettings,
        generator: LLMGenerator | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.generator = generator
        self.reranker = reranker

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

    def ask(self, question: str, mode: Literal["auto", "extractive"] = "auto") -> Answer:
        """Answer a question, or decline when the knowledge base does not cover it.

        With an LLM configured (and mode "auto") the answer is generated from the evidence and
        verified; otherwise, or when generation fails or too little survives, it is extractive.
        The LLM is never called when retrieval found no evidence.
        """
        q = self.normalise(question)
        if not key_terms(to_simplified(q)):
            raise InvalidQuestion(prompts.load("question_vague"))
        evidence = self.retrieve(q)
        if not evidence.covered:
            return self.not_covered(q)
        extractive = self.extractive(evidence)
        if self.generator is None or mode == "extractive":
            return extractive
        return self.generated(evidence, extractive)

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
        if self.reranker is not None and hits:
            scores = self.reranker.scores(
                query, [f"{h.chunk.context}\n{h.chunk.text}" for h in hits]
            )
            for hit, score in zip(hits, scores, strict=True):
                hit.rerank = score
            hits.sort(key=lambda h: -(h.rerank or 0.0))
        terms = self._weighted_terms(query)
        candidates: list[Candidate] = []
        for hit in hits:
            chunk = hit.chunk
            context = f"{chunk.title}\n{chunk.context}\n{chunk.text}"
            context_cov = _coverage(terms, context)
            sentences = [
                s
                for s in split_sentences(chunk.text, base=chunk.start)
                if len(re.sub(r"\W", "", s.text)) >= 6 and not looks_like_instruction(s.text)
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
        return Evidence(question, candidates, covered, hits)

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

    # ------------------------------------------------------------------ LLM answers
    def llm_sources(self, evidence: Evidence) -> list[tuple[Source, Hit]]:
        """The distinct relevant chunks behind the best candidates, numbered from 1."""
        from bot.llm import Source

        out: list[tuple[Source, Hit]] = []
        for c in evidence.candidates:
            chunk = c.hit.chunk
            if any(hit.chunk.id == chunk.id for _, hit in out):
                continue
            if c.context_cov < self.settings.min_coverage:
                continue
            kept = [
                s.text for s in split_sentences(chunk.text) if not looks_like_instruction(s.text)
            ]
            text = "\n".join(x for x in (chunk.context, "".join(kept)) if x)
            out.append((Source(len(out) + 1, chunk.title, chunk.section, text), c.hit))
            if len(out) >= _LLM_SOURCES:
                break
        return out

    def generated(self, evidence: Evidence, extractive: Answer) -> Answer:
        """A generated answer that survived verification, else the extractive one."""
        assert self.generator is not None
        numbered = self.llm_sources(evidence)
        sources = [src for src, _ in numbered]
        try:
            text = self.generator.generate(evidence.question, sources)
        except TimeoutError:
            extractive.removed = [{"reason": "llm_timeout", "text": ""}]
            return extractive
        except Exception as exc:  # provider errors, rate limits, bad responses: never to the user
            log.warning("LLM call failed: %s", exc)
            extractive.removed = [{"reason": "llm_error", "text": type(exc).__name__}]
            return extractive
        checked = verify(text, {s.n: f"{s.title}\n{s.text}" for s in sources})
        if checked.declined:
            answer = self.not_covered(evidence.question)
            answer.mode, answer.removed = "llm", [{"reason": "llm_declined", "text": text[:200]}]
            return answer
        if not checked.sentences or checked.kept_chars < _LLM_MIN_KEPT * checked.total_chars:
            extractive.removed = [*checked.removed, {"reason": "too_little_verified", "text": ""}]
            return extractive
        renumber: dict[int, int] = {}
        parts = []
        for sentence, cited in checked.sentences:
            marks = "".join(f"[{renumber.setdefault(n, len(renumber) + 1)}]" for n in cited)
            body = sentence.rstrip("。！？；!?;")
            parts.append(body + marks + sentence[len(body) :])  # "……饮酒[1]。"
        hits = {src.n: hit for src, hit in numbered}
        citations = []
        for old, new in renumber.items():
            claims = "".join(t for t, cited in checked.sentences if old in cited)
            citations.append(self._best_quote(new, hits[old], claims))
        return Answer(evidence.question, True, "".join(parts), citations, "llm", checked.removed)

    def _best_quote(self, n: int, hit: Hit, claims: str) -> Citation:
        """The source sentence of a chunk that best supports the generated claims citing it."""
        chunk = hit.chunk
        want = char_shingles(claims, 2)
        best = max(
            (
                s
                for s in split_sentences(chunk.text, base=chunk.start)
                if not looks_like_instruction(s.text)
            ),
            key=lambda s: overlap(char_shingles(s.text, 2), want),
        )
        cand = Candidate(hit, best.start, best.end, best.text, 0.0, 0.0)
        cite = self.citation(n, cand)
        cite.score = round(hit.score, 4)
        return cite

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
    """Sentence evidence first, its chunk's context and dense similarity (or the reranker's
    relevance, when one is configured) as tie-breakers."""
    dense = c.hit.rerank if c.hit.rerank is not None else max(0.0, (c.hit.dense - 0.8) / 0.15)
    return c.sentence_cov + 0.5 * c.context_cov + 0.5 * dense - (_PAIR_PENALTY if c.pair else 0.0)
