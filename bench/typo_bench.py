"""Cost of typo repair on the first question after ingest, and on later ones.

The vocabulary is every search token of the shared documents and the handbook, plus the
general dictionary's words up to the size of a large corpus's vocabulary (VOCAB_SIZE), so the
figure stands for a big knowledge base. Each question is a pinyin typo or a correct one; the
first one pays for whatever the repair builds. Run in a fresh process: pinyin lookups are
cached per process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from bench.common import REPO, ms, run_main, shared_dir
from bot.question import TypoRepair, understand
from ingest.clean import clean_text
from ingest.loaders import load
from knowledge.lexical import _tokenizer, is_word, segment, tokenize

VOCAB_SIZE = 60_000
QUESTIONS = (
    "试卷报密室外围的防护要怎么搞",
    "考生的吃住要保章到什么程度",
    "考生手机响了怎么办",
    "用外网电脑处里涉密数据可以吗",
    "监考员迟到了怎么处理",
)


def vocabulary() -> list[str]:
    """Tokens of the shared documents and the handbook, topped up with dictionary words."""
    words: set[str] = set()
    shared = shared_dir()
    folders = [shared / "seeds", shared / "eval" / "corpus" / "docs", REPO / "knowledge"]
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in {".txt", ".md", ".docx", ".pdf", ".html"}:
                words.update(tokenize(clean_text(load(path).text).text))
    tk = _tokenizer()
    tk.check_initialized()
    extra = sorted(w for w in tk.FREQ if tk.FREQ[w] > 0 and w not in words)
    random.Random(8).shuffle(extra)
    return sorted(words) + extra[: max(VOCAB_SIZE - len(words), 0)]


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Time building the repair, the first question and the later ones."""
    vocab = vocabulary()
    segment("预热")  # the dictionary itself is loaded by search anyway, not by repair
    # pypinyin loads its own dictionaries on import, once per process whatever repair does.
    t = time.perf_counter()
    from pypinyin import lazy_pinyin

    lazy_pinyin("考")
    t0 = time.perf_counter()
    repair = TypoRepair(vocab, is_word, segment)
    t1 = time.perf_counter()
    first = understand(QUESTIONS[0], repair)
    t2 = time.perf_counter()
    later = []
    for q in QUESTIONS[1:]:
        s = time.perf_counter()
        understand(q, repair)
        later.append(time.perf_counter() - s)
    print(f"vocabulary: {len(vocab)} words; first question repaired to {first.text}")
    out = {
        "typo_vocabulary": len(vocab),
        "typo_pinyin_import_ms": ms(t0 - t),
        "typo_build_ms": ms(t1 - t0),
        "typo_first_question_ms": ms(t2 - t1),
        "typo_later_question_max_ms": ms(max(later)),
    }
    for k, v in out.items():
        print(f"{k}: {v}")
    return out


if __name__ == "__main__":
    run_main(main)
