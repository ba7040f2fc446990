"""`scan --mitigate` on the canary: flagged rows go to a second actor pool; results land in the run folder."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.model.loader import DEFAULT_MODEL
from tests.clean_cli import run_cli

CANARY = Path(DEFAULT_MODEL)


@pytest.mark.slow
def test_scan_with_mitigation_writes_results_for_flagged_rows_only(tmp_path):
    memorized = (CANARY / "labels/memorized.txt").read_text().splitlines()[:6]
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()[:14]
    captions = memorized + clean + memorized[:1] * 2 + memorized[1:2]  # copies: mitigated once per caption
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(len(captions))], "caption": captions}),
                   tmp_path / "in.parquet")
    run = tmp_path / "run"
    result = run_cli(["scan", str(tmp_path / "in.parquet"), "-o", str(run), "--mitigate", "--max-steps", "30",
                      "--attribution", "gradient", "--mitigation-batch-size", "4"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    flagged = pd.read_parquet(run / "flagged.parquet")
    out = pd.read_parquet(run / "mitigations.parquet")
    assert out["row_id"].tolist() == flagged["row_id"].tolist() and len(out) >= 5  # in rank order
    assert out["rank"].tolist() == flagged["rank"].tolist()
    assert set(out["caption"]) <= set(memorized)  # clean captions under the threshold are left alone
    assert (out["status"] == "ok").all()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mitigation"]["flagged"] == len(flagged) and summary["mitigation"]["ok"] == len(out)
    assert summary["pool"]["in_driver"]  # a small scan here alone: scan and mitigation in one process, no Ray
    assert "in this process" in (run / "logs" / "scan.log").read_text() and "Ray log:" not in result.stderr
    first = out[out["same_as"].isna()]
    assert summary["mitigation"]["distinct_captions"] == len(first) == out["caption"].nunique() == len(flagged) - 3
    copies = out[out["same_as"].notna()].merge(first, left_on="same_as", right_on="row_id", suffixes=("", "_first"))
    assert len(copies) == 3 and (copies["caption"] == copies["caption_first"]).all()
    assert (copies["suggested_caption"] == copies["suggested_caption_first"]).all()
    assert (copies["seconds_embedding"] == 0).all()
    assert summary["mitigation"]["embedding_under_threshold"] >= 0.95 * len(out)
    assert summary["mitigation"]["attribution"] == "gradient" and summary["mitigation"]["batch_size"] == 4
    assert summary["mitigation"]["target_source"] == "profile clean median"
    assert summary["mitigation"]["target"] == json.loads((CANARY / "audit_profile.json").read_text())["clean_median"]
    for caption, triggers in zip(out["caption"], out["trigger_tokens"]):
        assert [t["token"] for t in triggers] == caption.split() and any(t["contribution"] != 0 for t in triggers)
    own = out["same_as"].fillna(out["row_id"]).astype(int)  # copies share their first row's embedding
    assert out["embedding_file"].tolist() == [f"embeddings/{r}.safetensors" for r in own]
    assert len(list((run / "embeddings").glob("*.safetensors"))) == len(first)
    assert all((run / f).is_file() for f in out["embedding_file"])  # relative to the run folder
    assert "embedding" in (run / "report.html").read_text()
    assert f"{len(first)} distinct captions mitigated once each" in (run / "report.html").read_text()
    assert f"({len(first)} distinct captions, each once)" in result.stderr  # the final block


@pytest.mark.slow
def test_scan_mitigate_passes_allow_pickle_on_and_exits_1_when_rows_fail(tmp_path, tiny_eps):
    """A pickle-only model loads in the mitigation actors with --allow-pickle; the rows then fail to write their
    embeddings (a file is in the way), so `scan --mitigate` exits 1 as `mitigate` does."""
    from diffusers import UNet2DConditionModel

    model = tmp_path / "pickled"
    shutil.copytree(tiny_eps, model)
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
    shutil.rmtree(model / "unet")
    unet.save_pretrained(model / "unet", safe_serialization=False)
    assert not list((model / "unet").glob("*.safetensors"))
    (tmp_path / "in.txt").write_text("a red cat\nthe blue house on a hill\na dog\n")
    run = tmp_path / "run"
    args = ["scan", str(tmp_path / "in.txt"), "-o", str(run), "--model", str(model), "--allow-pickle",
            "--threshold", "-1000"]
    assert run_cli(args, tmp_path).returncode == 0  # the scan first: a scan refuses a folder it did not make
    (run / "embeddings").write_text("not a folder")
    result = run_cli([*args, "--mitigate", "--max-steps", "2"], tmp_path)  # resumes the finished scan
    assert result.returncode == 1, result.stderr[-3000:]
    out = pd.read_parquet(run / "mitigations.parquet")
    assert len(out) == 3 and out["status"].str.startswith("error:").all()
    assert json.loads((run / "summary.json").read_text())["mitigation"]["failed"] == 3
