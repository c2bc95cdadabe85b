"""Which encoding a Chinese text file is in, and decoding it in pieces.

UTF-8/16/32 are recognised by their byte order mark or by strict decoding. GB18030 and Big5
cannot be told apart that way: almost any Big5 byte string is also valid GB18030. Both are
decoded and the more plausible Chinese text wins: the share of its characters that are among
the language's most frequent ones (traditional text is compared after conversion to
simplified). A wrong decoding yields a random bag of rare characters and symbols, so the
right one scores far higher; when neither clearly does, the file is refused, not guessed.
"""

from __future__ import annotations

import codecs
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import prompts

# How much of a file is looked at to choose the encoding (the rest must decode the same way).
SAMPLE_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HAN = re.compile(r"[\u3400-\u9fff]")
# Characters a real Chinese text hardly ever contains but misdecoded bytes often produce:
# private use, replacement, C1 controls, bopomofo, box drawing, rare ideograph extensions.
_ODD = re.compile(
    r"[\ue000-\uf8ff\ufffd\x80-\x9f\u3100-\u312f\u2500-\u257f\u3400-\u4dbf\uf900-\ufaff]"
)
# Below this share of frequent characters a decoding is not plausible Chinese.
MIN_PLAUSIBLE = 0.5
# Fewer Chinese characters than this cannot be judged; the better decoding is taken as is.
MIN_JUDGED = 20


class EncodingError(ValueError):
    """The encoding cannot be told or the bytes do not decode; the message (Chinese) says why."""


@lru_cache(maxsize=1)
def _frequent() -> frozenset[str]:
    """The 1,500 most frequent Chinese characters, counted over jieba's word list."""
    import jieba

    counts: Counter[str] = Counter()
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            word, freq, *_ = line.split(" ")
            n = int(freq)
            for ch in word:
                counts[ch] += n
    return frozenset(ch for ch, _ in counts.most_common(1500))


def plausibility(text: str) -> tuple[float, int]:
    """(share of frequent characters among Chinese ones, minus odd characters; Han count)."""
    from ingest.clean import to_simplified

    han = _HAN.findall(text)
    odd = len(_ODD.findall(text))
    if not han:
        return (-1.0 if odd else 0.0), 0
    frequent = _frequent()
    simplified = to_simplified("".join(han))
    share = sum(ch in frequent for ch in simplified) / len(simplified)
    return share - odd / (len(han) + odd), len(han)


def _decodes(data: bytes, encoding: str, complete: bool) -> str | None:
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(data, final=complete)
    except UnicodeDecodeError:
        return None


def detect(sample: bytes, complete: bool = True) -> str:
    """The encoding of a Chinese text whose first bytes are `sample`.

    `complete` says the sample is the whole file (else a cut character at its end is fine).
    Raises EncodingError with a Chinese reason when the encoding cannot be told reliably.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample[:4096]:
        # UTF-16 without a mark: NUL bytes in every other position around ASCII characters.
        for name in ("utf-16-le", "utf-16-be"):
            text = _decodes(sample[: len(sample) & ~1], name, True)
            if text is not None and plausibility(text)[0] >= MIN_PLAUSIBLE:
                return name
        raise EncodingError(prompts.render("encoding_binary"))
    if _decodes(sample, "utf-8", complete) is not None:
        return "utf-8"
    scored: list[tuple[float, int, str]] = []
    for name in ("gb18030", "cp950", "big5hkscs"):
        if name == "big5hkscs" and any(s[2] == "cp950" for s in scored):
            continue  # one Big5 variant is enough
        text = _decodes(sample, name, complete)
        if text is not None:
            score, han = plausibility(text)
            scored.append((score, han, name))
    if not scored:
        raise EncodingError(prompts.render("encoding_unknown"))
    scored.sort(key=lambda s: -s[0])
    best = scored[0]
    if best[1] < MIN_JUDGED:
        return best[2]
    runner_up = scored[1][0] if len(scored) > 1 else -1.0
    if best[0] < MIN_PLAUSIBLE or best[0] - runner_up < 0.15:
        raise EncodingError(prompts.render("encoding_ambiguous"))
    return best[2]


def decode(data: bytes) -> str:
    """Decode a whole Chinese text file after detecting its encoding."""
    encoding = detect(data[:SAMPLE_BYTES], complete=len(data) <= SAMPLE_BYTES)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise EncodingError(
            prompts.render("encoding_inconsistent", encoding=_label(encoding), offset=exc.start)
        ) from exc


def iter_decoded(
    path: Path, block: int = 1 << 20, on_read: Callable[[int], None] | None = None
) -> Iterator[str]:
    """Decoded text of a file, block by block (for files too large to hold at once).

    `on_read` hears how many bytes each block had, for progress.
    """
    with open(path, "rb") as f:
        head = f.read(SAMPLE_BYTES)
        encoding = detect(head, complete=len(head) < SAMPLE_BYTES)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        offset, data = 0, head
        while True:
            final = not data
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as exc:
                raise EncodingError(
                    prompts.render(
                        "encoding_inconsistent",
                        encoding=_label(encoding),
                        offset=offset + exc.start,
                    )
                ) from exc
            if on_read is not None:
                on_read(len(data))
            if text:
                yield text
            if final:
                return
            offset += len(data)
            data = f.read(block)


def _label(encoding: str) -> str:
    return {"cp950": "Big5", "big5hkscs": "Big5", "gb18030": "GB18030"}.get(
        encoding, encoding.upper().replace("-SIG", "")
    )
