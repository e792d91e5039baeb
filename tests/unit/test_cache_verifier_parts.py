"""The cache verifier's parts: pair features, boosted oblivious trees, Platt calibration (no model, no data)."""

from __future__ import annotations

import json

import numpy as np

from core.cache.features import FEATURES, WordTable, document_frequencies, pair_features, stem
from core.cache.trees import Forest, Platt, fit_forest, fit_platt

WORDS = WordTable(idf={"python": 3.0, "learn": 2.0}, unknown_idf=5.0)


def feature(text_a: str, text_b: str, name: str, cosine: float = 0.9) -> float:
    return pair_features(text_a, text_b, cosine, WORDS)[FEATURES.index(name)]


def test_features_see_numbers_negation_question_words_entities_and_rare_words():
    assert len(pair_features("How do I lose 5 kg?", "How do I lose 5 kg?", 1.0, WORDS)) == len(FEATURES)
    assert (feature("How do I lose 5 kg?", "How do I lose 5 kg?", "numbers_differ"),
            feature("How do I lose 5 kg?", "How do I lose 15 kg?", "numbers_differ")) == (0.0, 1.0)  # fmt: skip
    assert feature("Is Python slow?", "Isn't Python slow?", "negation_differ") == 1.0
    assert feature("Why is the sky blue?", "When is the sky blue?", "question_word_differ") == 1.0
    assert feature("How can I learn Java quickly?", "How can I learn Python quickly?", "entity_missing") == 1.0
    assert feature("How do I learn Python?", "How do I learn python?", "entity_missing") == 0.0
    # an unknown (rare) word one side lacks weighs more than a common one
    assert feature("How do I learn Python?", "How do I learn Python zorblax?", "rarest_unmatched_idf") == 5.0
    assert feature("How do I learn Python?", "How do I learn Python?", "rarest_unmatched_idf") == 0.0
    # stems match: "studying" and "study" are the same content word
    assert stem("studying") == stem("study") == "study"
    assert feature("Tips for studying?", "Tips to study?", "exact_share_min") == 1.0
    assert feature("best camera phone", "phone best camera", "order_discordance") > 0


def test_document_frequencies_keep_words_seen_twice():
    idf, unknown = document_frequencies(["learn python", "learn java", "learn python fast"])
    assert set(idf) == {"learn", "python"}
    assert idf["learn"] < idf["python"] < unknown


def test_boosted_trees_learn_an_interaction_and_round_trip_through_json():
    rng = np.random.default_rng(1)
    x = rng.random((3000, 4))
    y = ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.5)).astype(np.float64)  # xor: no single feature separates it
    forest, losses = fit_forest(x[:2000], y[:2000], trees=60, depth=3, learning_rate=0.3,
                                valid=(x[2000:], y[2000:]))  # fmt: skip
    accuracy = float(np.mean((forest.margin(x[2000:]) > 0) == (y[2000:] == 1)))
    assert accuracy > 0.95
    assert losses[0] > min(losses)
    restored = Forest.from_dict(json.loads(json.dumps(forest.to_dict())))
    assert np.allclose(restored.margin(x[:50]), forest.margin(x[:50]), atol=1e-4)
    # one row and a matrix give the same margin
    assert np.isclose(float(forest.margin(x[7])[0]), float(forest.margin(x[:10])[7]))


def test_platt_calibration_recovers_a_known_slope_and_keeps_the_ranking():
    rng = np.random.default_rng(2)
    margin = rng.normal(size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(2 * margin - 0.5)))).astype(np.float64)
    calibration = fit_platt(margin, y)
    assert abs(calibration.slope - 2.0) < 0.15
    assert abs(calibration.intercept + 0.5) < 0.1
    grid = np.linspace(-3, 3, 61)
    assert np.all(np.diff(calibration(grid)) > 0)  # strictly increasing: high thresholds stay distinct
    restored = Platt.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert np.allclose(restored(grid), calibration(grid), atol=1e-5)


def test_default_threshold_is_the_lowest_that_keeps_the_precision_target():
    from core.cache.train_verifier import choose_threshold

    probability = np.repeat(np.round(np.arange(0.50, 1.0, 0.01), 2), 200)
    # precision equal to the probability on this grid: right answers are the first round(200 * p) of each run
    y = np.concatenate([(np.arange(200) < round(200 * p)).astype(np.float64) for p in np.unique(probability)])
    chosen = choose_threshold(probability, y, target=0.955)
    hits = probability >= chosen
    assert float(y[hits].mean()) >= 0.955
    lower = probability >= chosen - 0.01
    assert float(y[lower].mean()) < 0.955
