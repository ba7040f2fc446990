"""The adaptation target: a clean-caption reference always under the threshold, stored by `evaluate` in the profile."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.evaluation.run import evaluate_scores
from audit.mitigation.target import choose_target
from audit.model.loader import DEFAULT_MODEL
from audit.scoring.profiles import BUILTIN, load_profile, resolve_profile
from audit.scoring.stage import ScoreStage

CANARY = Path(DEFAULT_MODEL)


def test_target_prefers_the_option_then_the_clean_median_and_never_exceeds_the_threshold():
    assert choose_target(0.6, 0.2, 0.1).value == 0.2
    assert choose_target(0.6, None, 0.1) == choose_target(0.6, None, 0.1) and choose_target(0.6, None, 0.1).value == 0.1
    assert choose_target(0.6, None, 0.1).source == "profile clean median"
    for clean_median in (None, 0.6, 0.9):  # missing, or not under the threshold: a level under it
        assert choose_target(0.6, None, clean_median).value == pytest.approx(0.54)
    assert choose_target(-2.0, None, None).value == pytest.approx(-2.2)
    assert choose_target(0.0, None, None).value < 0.0
    with pytest.raises(ValueError, match="not under the threshold"):
        choose_target(0.6, 0.7, 0.1)


def test_profile_files_keep_the_clean_median_and_overrides_drop_it(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"w_norm": 1, "w_cos": 2, "threshold": 0.5, "clean_median": 0.2}))
    assert load_profile(path).clean_median == 0.2
    assert json.loads(load_profile(path).to_json())["clean_median"] == 0.2
    assert resolve_profile("x", None, str(path), w_norm=3.0).clean_median is None  # a score of other weights
    assert BUILTIN["sd1"].clean_median is None


def test_evaluate_stores_the_median_clean_score_of_the_fitted_weights():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"label": [1] * 50 + [0] * 50, "norm": np.r_[rng.normal(3, 0.5, 50), rng.normal(1, 0.5, 50)],
                           "cosine": rng.normal(0, 0.1, 100)})
    fitted = evaluate_scores(scores, BUILTIN["sd1"])["fitted_profile"]
    clean = scores[scores["label"] == 0]
    assert fitted["clean_median"] == pytest.approx(np.median(fitted["w_norm"] * clean["norm"]
                                                             + fitted["w_cos"] * clean["cosine"]))
    assert fitted["clean_median"] < fitted["threshold"]


def test_the_bundled_canary_profile_holds_its_clean_captions_median():
    stage = ScoreStage(device="cpu")
    stage.setup()
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()
    median = float(stage.process(pd.DataFrame({"caption": clean}))["score"].median())
    assert stage.weights.clean_median == pytest.approx(median, rel=1e-4)
    assert stage.weights.clean_median < stage.weights.threshold
