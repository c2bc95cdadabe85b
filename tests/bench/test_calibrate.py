"""The calibration code on a small synthetic fixture: listwise ranker, decider, thresholds."""

from __future__ import annotations

import json
import math
import random

from bench import calibrate as cal
from knowledge.index import ChunkRecord, Hit, UnitHit, UnitRecord
from knowledge.retrieval import UNIT_FEATURES, AnswerModel, Candidate, decide


def _cand(uid: str, chunk: int, feats: dict[str, float]) -> Candidate:
    rec = ChunkRecord(f"c{chunk}", "p", "doc.txt", "标题", "", "", 0, 10, f"段落{uid}")
    uh = UnitHit(UnitRecord(uid, chunk, 0, 10, f"句子{uid}"), Hit(rec, 0.0, 0.0, 0.0), feats["sim"])
    return Candidate(uh, feats)


def _item(rng: random.Random, n: int, answerable: bool, set_name: str) -> cal.Item:
    """Candidates whose `char_cov` reveals the answer; an answerable question's answer is
    also more similar to it (sim), an unanswerable one has nothing that stands out."""
    cands, labels = [], []
    answer = rng.randrange(8) if answerable else -1
    for i in range(8):
        hit = i == answer
        f = dict.fromkeys((*UNIT_FEATURES, "asks_qty"), 0.0)
        f["sim"] = 0.90 + rng.gauss(0, 0.004) if hit else 0.86 + rng.gauss(0, 0.01)
        f["char_cov"] = 0.7 + rng.random() * 0.3 if hit else rng.random() * 0.5
        f["bm25_rel"] = rng.random()
        cands.append(_cand(f"{set_name}{n}-{i}", i // 2, f))
        labels.append(int(hit))
    best = max(c.features["sim"] for c in cands)
    for c in cands:
        c.features["sim_gap"] = c.features["sim"] - best
    return cal.Item(set_name, f"{set_name}.jsonl", f"q{n}", "问题", answerable, cands, labels)


def _items(seed: int = 7) -> list[cal.Item]:
    rng = random.Random(seed)
    return [
        _item(rng, n, answerable=n % 4 != 0, set_name=s) for s in ("a", "b", "c") for n in range(24)
    ]


def test_ranker_learns_which_feature_marks_the_answer() -> None:
    items = _items()
    ranker = cal.fit_ranker(items)
    w = dict(zip(UNIT_FEATURES, ranker.weights, strict=True))
    assert w["char_cov"] > 0 and w["char_cov"] > abs(w["bm25_rel"])
    ranked = cal.score([it for it in items if it.answerable], ranker)
    top_hits = sum(cal.label_of(it, r.candidates[0]) for it, r in zip(
        [it for it in items if it.answerable], ranked, strict=True))  # fmt: skip
    assert top_hits / len(ranked) >= 0.9


def test_decider_and_threshold_separate_answerable_questions() -> None:
    model = cal.fit(_items())
    m = cal.metrics(_items(seed=8), model)  # fresh questions, same kind
    declined, total = map(int, m["answerable_declined"].split("/"))
    refused, unanswerable = map(int, m["unanswerable_declined"].split("/"))
    assert declined / total <= 0.15 and refused / unanswerable >= 0.8, m
    assert m["hit@1"] >= 0.8, m


def test_cross_validation_reports_every_held_out_set() -> None:
    cv = cal.cross_validate(_items())
    assert set(cv) == {"a/a.jsonl", "b/b.jsonl", "c/c.jsonl"}
    assert all(0 <= m["hit@1"] <= 1 for m in cv.values())


def test_question_folds_score_each_question_once_by_a_model_not_fitted_on_it(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    items = _items()
    fitted_on: list[set[int]] = []
    real_fit = cal.fit

    def recording_fit(train):  # type: ignore[no-untyped-def]
        fitted_on.append({id(it) for it in train})
        return real_fit(train)

    models: dict[int, cal.AnswerModel] = {}
    real_pooled = cal.pooled_metrics

    def recording_pooled(scored):  # type: ignore[no-untyped-def]
        for it, model in scored:
            assert id(it) not in models  # each question is scored once
            models[id(it)] = model
        return real_pooled(scored)

    monkeypatch.setattr(cal, "fit", recording_fit)
    monkeypatch.setattr(cal, "pooled_metrics", recording_pooled)
    cv = cal.cross_validate_by_question(items, k=4)
    assert set(cv) == {"a/a.jsonl", "b/b.jsonl", "c/c.jsonl"}
    assert len(fitted_on) == 4 and set(models) == {id(it) for it in items}
    # every fold's model was fitted on questions of all three sets, none of them its own
    by_model: dict[int, set[int]] = {}
    for qid, model in models.items():
        by_model.setdefault(id(model), set()).add(qid)
    assert len(by_model) == 4
    for scored_ids in by_model.values():
        train = next(t for t in fitted_on if not t & scored_ids)
        assert {it.set for it in items if id(it) in train} == {"a", "b", "c"}
    answerable = sum(int(m["answerable_declined"].split("/")[1]) for m in cv.values())
    assert answerable == sum(it.answerable for it in items)


def test_model_round_trips_through_json_and_decides_the_same() -> None:
    items = _items()
    model = cal.fit(items)
    again = AnswerModel.from_json(json.loads(json.dumps(model.to_json())))
    for r in cal.score(items[:10], again.ranker):
        r.p_answer = 0.99
        assert decide(r, again).verdict == decide(r, model).verdict


def test_ranker_strength_is_chosen_on_the_training_sets_and_recorded() -> None:
    """The L2 strength comes from leave-one-set-out on the sets a model is fitted on (so the
    outer held-out figures include that choice), and the model says which one it used."""
    items = _items()
    l2 = cal.choose_l2(items, grid=(0.1, 10.0, 1000.0))
    assert l2 in (0.1, 10.0, 1000.0)
    # the choice is by held-out likelihood: the chosen ranker gives the answers more probability
    # than the heavily shrunk one, which stays close to uniform (one answer in 8: log 1/8)
    chosen = cal.log_likelihood(items, cal.fit_ranker(items, l2=l2))
    flat = cal.log_likelihood(items, cal.fit_ranker(items, l2=1000.0))
    assert chosen > flat > math.log(1 / 8) - 1e-6
    assert cal.fit(items).info["ranker_l2"] == cal.choose_l2(items)
    assert cal.choose_l2([it for it in items if it.set == "a"], grid=(1.0, 3.0, 9.0)) == 3.0


def _threshold_items(
    answerable: list[float], unanswerable: list[float]
) -> tuple[list[cal.Item], list[float]]:
    items = [
        cal.Item("a", "a.jsonl", f"q{i}", "问题", ok, [], [])
        for i, ok in enumerate([True] * len(answerable) + [False] * len(unanswerable))
    ]
    return items, [*answerable, *unanswerable]


def test_threshold_sits_in_the_middle_of_the_gap_and_one_question_does_not_move_it() -> None:
    """Between questions that should be answered (p 0.6-0.9) and ones that should not
    (p 0.1-0.3), the threshold lies mid-gap, not on its edge next to an unanswerable one;
    one more unanswerable question near the gap's edge leaves it almost where it was."""
    answerable = [0.6 + 0.3 * i / 19 for i in range(20)]
    unanswerable = [0.1 + 0.2 * i / 9 for i in range(10)]
    t = cal.choose_threshold(*_threshold_items(answerable, unanswerable))
    assert 0.4 <= t <= 0.5, t
    again = cal.choose_threshold(*_threshold_items(answerable, [*unanswerable, 0.33]))
    assert abs(again - t) <= 0.03 and again > 0.33, (t, again)
