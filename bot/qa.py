"""Answering questions from the knowledge base, with exact citations, or declining honestly.

The question is first understood (`bot.question`: mentions, greetings, traditional script and
typos), then `knowledge.retrieval` ranks candidate sentences by meaning and by words and
estimates how likely it is that the knowledge base answers the question at all. By that
calibrated estimate kaowu answers with the best sentences, points to related rules while
saying that no rule answers the question directly, or declines. The answer is made of source
sentences (extractive), or, with an LLM configured, generated from the same evidence and kept
only as far as `bot.verify` can back it with the sources.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import prompts
from bot.question import CleanQuestion, TypoRepair, understand
from bot.settings import AnswerSettings
from bot.verify import verify
from knowledge.index import Hit, KnowledgeIndex
from knowledge.lexical import is_word, key_terms, segment
from knowledge.retrieval import AnswerModel, Candidate, Ranked, bundled_model, decide, rank
from knowledge.textutil import char_shingles, overlap, split_sentences

if TYPE_CHECKING:
    from bot.llm import LLMGenerator, Source
    from bot.rerank import Reranker

log = logging.getLogger(__name__)

# Sources handed to an LLM (passages whose best sentence scores within _LLM_SOURCE_GAP of the
# best), and the share of its answer that must survive verification.
_LLM_SOURCES = 5
_LLM_SOURCE_GAP = 3.0
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
    """The result of a question: answered, related rules only, declined, or small talk."""

    question: str
    answered: bool
    answer: str
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"  # "extractive" | "llm" | "small_talk"
    removed: list[dict[str, str]] = field(default_factory=list)
    # Rules close to the question that do not answer it (shown as such, never as the answer).
    related: list[Citation] = field(default_factory=list)
    confidence: float = 0.0  # calibrated probability that the knowledge base answers it

    def to_json(self) -> dict[str, Any]:
        """The `kaowu ask --json` object."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "citations": [c.public() for c in self.citations],
            "related": [c.public() for c in self.related],
            "mode": self.mode,
            "confidence": round(self.confidence, 3),
            "removed": self.removed,
        }


class QAService:
    """Answers questions from the knowledge index."""

    def __init__(
        self,
        index: KnowledgeIndex,
        settings: AnswerSettings,
        generator: LLMGenerator | None = None,
        reranker: Reranker | None = None,
        model: AnswerModel | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.generator = generator
        self.reranker = reranker
        self.model = model or bundled_model()
        self._repair: tuple[str, TypoRepair] | None = None

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

    def understand(self, question: str) -> CleanQuestion:
        """The question cleaned for search (mentions, greetings, script, typos)."""
        return understand(self.normalise(question), self.repair())

    def repair(self) -> TypoRepair:
        """Typo repair against the live vocabulary (rebuilt when the corpus changes)."""
        generation = self.index.generation
        if self._repair is None or self._repair[0] != generation:
            self._repair = (generation, question_repair(self.index))
        return self._repair[1]

    def ask(
        self,
        question: str,
        mode: Literal["auto", "extractive"] = "auto",
        roles: frozenset[str] | set[str] = frozenset(),
    ) -> Answer:
        """Answer a question, point to related rules, or decline.

        With an LLM configured (and mode "auto") the answer is generated from the evidence and
        verified; otherwise, or when generation fails or too little survives, it is extractive.
        The LLM is never called when retrieval found no answer. `roles` of the asker decide
        whom a declined question is referred to.
        """
        cq = self.understand(question)
        if cq.small_talk:
            reply = prompts.load("small_talk_thanks" if cq.thanks else "small_talk")
            return Answer(cq.raw, False, reply, mode="small_talk")
        if not key_terms(cq.text):
            raise InvalidQuestion(prompts.load("question_vague"))
        ranked = self.retrieve(cq.text)
        decision = decide(ranked, self.model, self.settings.max_citations)
        if decision.verdict == "answer":
            extractive = self.extractive(cq.raw, decision.chosen, ranked.p_answer)
            if self.generator is None or mode == "extractive":
                return extractive
            return self.generated(cq.raw, ranked, extractive)
        contact = self.contact(roles)
        if decision.verdict == "related":
            related = [self.citation(i + 1, c) for i, c in enumerate(decision.chosen)]
            return Answer(
                cq.raw,
                False,
                prompts.render("related_only", contact=contact),
                related=related,
                confidence=ranked.p_answer,
            )
        answer = self.not_covered(cq.raw, roles)
        answer.confidence = ranked.p_answer
        return answer

    def contact(self, roles: frozenset[str] | set[str] = frozenset()) -> str:
        """Whom to ask when kaowu has no answer: a 主考 is not sent to the 主考."""
        if "coordinator" in roles:
            return self.settings.fallback_contact_coordinator
        if "chief" in roles:
            return self.settings.fallback_contact_chief
        return self.settings.fallback_contact

    def not_covered(self, question: str, roles: frozenset[str] | set[str] = frozenset()) -> Answer:
        """The polite refusal for a question the knowledge base does not cover."""
        return Answer(
            question=question,
            answered=False,
            answer=prompts.render("not_covered", contact=self.contact(roles)),
        )

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, query: str) -> Ranked:
        """Ranked evidence for a cleaned question (and the probability that it is answered).

        A configured cross-encoder reranker reorders the passages and adds its relevance
        (0..1, per query) to the score of each passage's sentences.
        """
        ranked = rank(self.index, query, self.model, keep=lambda s: not looks_like_instruction(s))
        if self.reranker is not None and ranked.hits:
            hits = ranked.hits
            scores = self.reranker.scores(
                query, [f"{h.chunk.context}\n{h.chunk.text}" for h in hits]
            )
            for hit, score in zip(hits, scores, strict=True):
                hit.rerank = score
            hits.sort(key=lambda h: -(h.rerank or 0.0))
            for c in ranked.candidates:
                c.logit += c.uh.hit.rerank or 0.0
            ranked.candidates.sort(key=lambda c: -c.logit)
        return ranked

    # ------------------------------------------------------------------ answers
    def extractive(self, question: str, chosen: list[Candidate], p: float = 1.0) -> Answer:
        """An answer made of the chosen source sentences, each marked [n]."""
        citations = [self.citation(i + 1, c) for i, c in enumerate(chosen)]
        answer = "".join(f"{c.quote}[{c.n}]" for c in citations)
        return Answer(question, bool(citations), answer, citations, confidence=p)

    # ------------------------------------------------------------------ LLM answers
    def llm_sources(self, ranked: Ranked) -> list[tuple[Source, Hit]]:
        """The distinct passages behind the best candidates, numbered from 1."""
        from bot.llm import Source

        out: list[tuple[Source, Hit]] = []
        for c in ranked.candidates:
            chunk = c.uh.hit.chunk
            if any(hit.chunk.id == chunk.id for _, hit in out):
                continue
            if c.logit < ranked.candidates[0].logit - _LLM_SOURCE_GAP:
                break
            kept = [
                s.text for s in split_sentences(chunk.text) if not looks_like_instruction(s.text)
            ]
            text = "\n".join(x for x in (chunk.context, "".join(kept)) if x)
            out.append((Source(len(out) + 1, chunk.title, chunk.section, text), c.uh.hit))
            if len(out) >= _LLM_SOURCES:
                break
        return out

    def generated(self, question: str, ranked: Ranked, extractive: Answer) -> Answer:
        """A generated answer that survived verification, else the extractive one."""
        assert self.generator is not None
        numbered = self.llm_sources(ranked)
        sources = [src for src, _ in numbered]
        try:
            text = self.generator.generate(question, sources)
        except TimeoutError:
            extractive.removed = [{"reason": "llm_timeout", "text": ""}]
            return extractive
        except Exception as exc:  # provider errors, rate limits, bad responses: never to the user
            log.warning("LLM call failed: %s", type(exc).__name__)
            extractive.removed = [{"reason": "llm_error", "text": type(exc).__name__}]
            return extractive
        checked = verify(text, {s.n: f"{s.title}\n{s.text}" for s in sources})
        if checked.declined:
            answer = self.not_covered(question)
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
        return Answer(
            question,
            True,
            "".join(parts),
            citations,
            "llm",
            checked.removed,
            confidence=extractive.confidence,
        )

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
        return _cite(n, hit, best.text, best.start, best.end, hit.score)

    @staticmethod
    def citation(n: int, c: Candidate) -> Citation:
        """A numbered citation for a candidate unit."""
        unit = c.uh.unit
        return _cite(n, c.uh.hit, unit.quote, unit.start, unit.end, c.logit)


def _cite(n: int, hit: Hit, quote: str, start: int, end: int, score: float) -> Citation:
    chunk = hit.chunk
    return Citation(
        n=n,
        source=chunk.source,
        title=chunk.title,
        section=chunk.section,
        quote=quote,
        score=round(score, 4),
        chunk_id=chunk.id,
        path=chunk.path,
        start=start,
        end=end,
    )


def question_repair(index: KnowledgeIndex) -> TypoRepair:
    """Typo repair against the index's vocabulary and the general dictionary."""
    return TypoRepair(index.vocabulary(), is_word, segment)
