"""`--model FILE` with `--model-config DIR`: a single-file checkpoint of the canary's weights scores as the canary
folder does; a .ckpt needs --allow-pickle; a missing or unfitting config is a one-line error."""
from pathlib import Path

import numpy as np
import pytest
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from audit.cli.main import main
from audit.model.fingerprint import fingerprint
from audit.model.loader import DEFAULT_MODEL, ModelLoadError, load_model
from audit.reports.parquet import read_metadata
from audit.scoring.engine import ScoreConfig, Scorer
from tests.model.ldm_layout import write_ldm_checkpoint

CANARY = Path(DEFAULT_MODEL)
CAPTIONS = (CANARY / "labels" / "memorized.txt").read_text().splitlines()[:10] + \
    (CANARY / "labels" / "clean.txt").read_text().splitlines()[:20]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The canary's UNet and text encoder as one .safetensors and one .ckpt, in the original SD layout."""
    out = tmp_path_factory.mktemp("single")
    unet = UNet2DConditionModel.from_pretrained(CANARY, subfolder="unet")
    text = CLIPTextModel.from_pretrained(CANARY, subfolder="text_encoder")
    paths = {suffix: out / f"canary{suffix}" for suffix in (".safetensors", ".ckpt")}
    for path in paths.values():
        write_ldm_checkpoint(unet, text, path)
    return paths


def scores(model: str, **load) -> np.ndarray:
    result = Scorer(load_model(model, device="cpu", **load), ScoreConfig(generations=2, seed=51)).score(CAPTIONS)
    return np.array([result["norm"], result["cosine"]])


def test_single_file_scores_as_the_canary_folder(checkpoints):
    expected = scores(str(CANARY))
    np.testing.assert_allclose(scores(str(checkpoints[".safetensors"]), config=str(CANARY)), expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(scores(str(checkpoints[".ckpt"]), config=str(CANARY), allow_pickle=True), expected,
                               atol=1e-6, rtol=0)


def test_ckpt_needs_allow_pickle(checkpoints):
    with pytest.raises(ModelLoadError, match="pickle.*--allow-pickle"):
        load_model(str(checkpoints[".ckpt"]), device="cpu", config=str(CANARY))


@pytest.mark.parametrize("config, message", [
    (None, "a single-file checkpoint needs --model-config"),
    (str(CANARY.parent / "canary_sdxl"), "the weights do not fit the configs of"),
    ("/nonexistent/config", "no such model folder"),
])
def test_missing_or_unfitting_config_is_one_line(checkpoints, tmp_path, capsys, config, message):
    args = ["score", "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.parquet"),
            "--model", str(checkpoints[".safetensors"]), *(["--model-config", config] if config else [])]
    (tmp_path / "in.txt").write_text("a caption\n")
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_model_config_without_a_single_file_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="only a single-file checkpoint"):
        load_model(str(CANARY), device="cpu", config=str(CANARY))


def test_score_records_the_file_and_its_config(checkpoints, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(CAPTIONS) + "\n")
    out = tmp_path / "out.parquet"
    model = str(checkpoints[".safetensors"])
    assert main(["score", "-i", str(tmp_path / "in.txt"), "-o", str(out), "--model", model,
                 "--model-config", str(CANARY)]) == 0
    meta = read_metadata(out)
    assert meta["model"] == model and meta["model_config"] == str(CANARY)
    assert meta["model_fingerprint"] != fingerprint(CANARY)
    assert meta["profile"]["name"] == "canary"  # the config folder's profile
