"""Which weights combine the terms: explicit profile, the model folder's own, the family's, or a warned default."""
import json
import logging
from types import SimpleNamespace

import pytest

from audit.scoring.profiles import BUILTIN, PROFILE_FILE, load_profile, resolve_profile

SD1 = SimpleNamespace(in_channels=4, cross_attention_dim=768)
SD2 = SimpleNamespace(in_channels=4, cross_attention_dim=1024)
OTHER = SimpleNamespace(in_channels=3, cross_attention_dim=64)


def test_family_defaults_follow_the_paper(tmp_path):
    assert (resolve_profile(str(tmp_path), SD1).w_norm, resolve_profile(str(tmp_path), SD1).w_cos) == (1.0, 2.0)
    assert resolve_profile(str(tmp_path), SD2).w_cos == 0.1


def test_unknown_family_warns_and_uses_sd1_weights(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        profile = resolve_profile(str(tmp_path), OTHER)
    assert (profile.w_norm, profile.w_cos) == (1.0, 2.0)
    assert "unknown model family" in caplog.text


def test_model_folder_profile_then_explicit_profile_then_overrides(tmp_path):
    (tmp_path / PROFILE_FILE).write_text(json.dumps({"name": "own", "w_norm": 1, "w_cos": 0.3, "threshold": 0.6}))
    assert resolve_profile(str(tmp_path), OTHER).name == "own"
    assert resolve_profile(str(tmp_path), OTHER, profile="sd2") == BUILTIN["sd2"]
    overridden = resolve_profile(str(tmp_path), OTHER, w_cos=5.0)
    assert (overridden.w_norm, overridden.w_cos, overridden.threshold) == (1.0, 5.0, 0.6)


def test_bad_profile_files(tmp_path):
    with pytest.raises(ValueError, match="profile file not found"):
        load_profile(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"w_norm": 1}')
    with pytest.raises(ValueError, match="not a valid profile file"):
        load_profile(tmp_path / "bad.json")


def test_uncalibrated_sdxl_uses_the_sdxl_profile_and_warns_once(tiny_sdxl, caplog):
    from audit.scoring.stage import ScoreStage

    assert not (tiny_sdxl / PROFILE_FILE).exists()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # a second load of the same model in the process does not repeat the warning
            stage = ScoreStage(model=str(tiny_sdxl), device="cpu")
            stage.setup()
            assert stage.weights == BUILTIN["sdxl"] and stage.metadata()["profile"]["name"] == "sdxl"
    warnings = [r.getMessage() for r in caplog.records if r.name == "audit.scoring.profiles"]
    assert len(warnings) == 1
    assert "UNCALIBRATED" in warnings[0] and "memaudit evaluate" in warnings[0] and str(tiny_sdxl) in warnings[0]
    assert "uncalibrated" in BUILTIN["sdxl"].source.lower()


def test_sdxl_family_comes_from_the_pipeline_class(tmp_path):
    assert resolve_profile(str(tmp_path), SD1, pipeline="StableDiffusionXLPipeline").name == "sdxl"
    assert resolve_profile(str(tmp_path), SD1, pipeline="StableDiffusionPipeline").name == "sd1"
