"""RERANKER: a sentence-transformers CrossEncoder, tested with a tiny model the test builds.

No PyPI package ships a cross-encoder, so the test writes a one-layer BERT with a character
vocabulary and saves it as a model directory, exactly as a downloaded model would be laid out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.rerank import Reranker, RerankerUnavailable
from bot.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, seeds: Path) -> Path:
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    chars = sorted({c for p in seeds.glob("*.txt") for c in p.read_text(encoding="utf-8")
                    if not c.isspace()})  # fmt: skip
    vocab = folder / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]), encoding="utf-8"
    )
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, num_labels=1)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizer(str(vocab)).save_pretrained(folder)
    return folder


def test_reranker_orders_retrieved_passages(seed_services, tiny_cross_encoder: Path) -> None:  # type: ignore[no-untyped-def]
    from bot.qa import QAService

    reranker = Reranker(str(tiny_cross_encoder))
    qa = QAService(seed_services.index, seed_services.settings.answer, reranker=reranker)
    question = "保密室值班每班至少要几个人？"
    evidence = qa.retrieve(question)
    passages = [f"{h.chunk.context}\n{h.chunk.text}" for h in evidence.hits]
    model_scores = reranker.raw_scores(question, passages)
    assert model_scores == sorted(model_scores, reverse=True)  # hits follow the model's order
    assert evidence.hits[0].rerank == 1.0 and evidence.hits[-1].rerank == 0.0
    plain = QAService(seed_services.index, seed_services.settings.answer).retrieve(question)
    assert {h.chunk.id for h in plain.hits} == {h.chunk.id for h in evidence.hits}


def test_reranker_by_setting(tmp_path: Path, tiny_cross_encoder: Path) -> None:
    from bot.services import build_services

    settings = load_settings(
        None, storage={"data_dir": tmp_path}, llm={"reranker": str(tiny_cross_encoder)}
    )
    services = build_services(settings, reports=False)
    assert services.qa.reranker is not None and services.qa.reranker.name == str(tiny_cross_encoder)
    services.close()


def test_missing_reranker_model_explained(tmp_path: Path) -> None:
    with pytest.raises(RerankerUnavailable, match="找不到重排序模型"):
        Reranker(str(tmp_path / "nope"))
