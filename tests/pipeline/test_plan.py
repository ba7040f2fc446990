"""`scan --plan`: exact files, rows and units without reading caption data, and a GPU-hour estimate."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from builders import write_tar

from audit.cli.main import main
from audit.model.flops import unet_flops
from audit.model.loader import DEFAULT_MODEL
from audit.pipeline.plan import REFERENCE


def corrupt_data_pages(path) -> None:
    """Overwrite bytes in the middle of the file (data pages), leaving the footer intact."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle - 200 : middle + 200] = b"\xff" * 400
    path.write_bytes(bytes(data))


def test_plan_counts_rows_and_units_from_footers_and_estimates_gpu_hours(tmp_path, capsys):
    table = pa.table({"URL": [f"https://x/{i}" for i in range(2500)], "TEXT": [f"caption {i}" for i in range(2500)]})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=500, compression="none")
    corrupt_data_pages(tmp_path / "a.parquet")
    assert pq.ParquetFile(tmp_path / "a.parquet").metadata.num_rows == 2500
    try:
        pq.read_table(tmp_path / "a.parquet")
        raise AssertionError("the data pages must be unreadable")
    except (OSError, pa.ArrowException):
        pass
    pq.write_table(table.slice(0, 7), tmp_path / "b.parquet")
    (tmp_path / "c.txt").write_text("one\ntwo\nthree")  # no final line break: still three rows
    write_tar(tmp_path / "d.tar", 0, 6)
    (tmp_path / "e.jsonl").write_text('{"caption": "x"}\n{"caption": "y"}\n')
    assert main(["scan", str(tmp_path), "--plan", "--json", "--unit-rows", "1000"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["files"], plan["rows"], plan["units"]) == (5, 2500 + 7 + 3 + 6 + 2, 3 + 1 + 1 + 1 + 1)
    per_file = {f["source"].rsplit("/", 1)[1]: (f["rows"], f["units"]) for f in plan["per_file"]}
    assert per_file == {"a.parquet": (2500, 3), "b.parquet": (7, 1), "c.txt": (3, 1), "d.tar": (6, 1),
                        "e.jsonl": (2, 1)}
    assert plan["flops_per_caption"] == 2 * unet_flops(DEFAULT_MODEL)
    # the sample: every row but those of a.parquet's middle unit, whose data pages are corrupt
    assert plan["dedup"]["sample_rows"] == 1000 + 500 + 7 + 3 + 6 + 2
    assert plan["rows_to_score"] == round(plan["rows"] * plan["dedup"]["fraction"])
    assert main(["scan", str(tmp_path), "--plan", "--json", "--unit-rows", "1000", "--rate", "7"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert abs(plan["wall_hours"]["8"] - plan["rows"] * plan["dedup"]["fraction"] / 7 / 3600 / 8) < 1e-12
    assert main(["scan", str(tmp_path / "b.parquet"), "--plan", "--rate", "7"]) == 0
    text = capsys.readouterr().out
    assert "7 rows, 1 units" in text and "7.0 captions/s per GPU (--rate)" in text and "on 64 GPUs" in text


def test_plan_says_when_flop_scaling_does_not_apply(tmp_path, capsys):
    (tmp_path / "c.txt").write_text("one\ntwo\nthree\n")
    assert main(["scan", str(tmp_path / "c.txt"), "--plan"]) == 0  # the canary: 8x8 latents, overhead-bound
    text = capsys.readouterr().out
    assert "no rate estimate (FLOP scaling does not apply" in text and "pass it as --rate" in text
    assert "GPU-hours: unknown without --rate" in text and "captions/s per GPU" not in text
    assert main(["scan", str(tmp_path / "c.txt"), "--plan", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["captions_per_second_per_gpu"] is None and plan["gpu_hours"] is None
    sd14 = sd14_config(tmp_path / "sd14")  # large enough: FLOPs scaled from the measured reference
    assert main(["scan", str(tmp_path / "c.txt"), "--plan", "--json", "--no-dedup", "--model", str(sd14)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert abs(plan["captions_per_second_per_gpu"] - REFERENCE["captions_per_second"]) < 0.01
    assert abs(plan["gpu_hours"] - 3 / plan["captions_per_second_per_gpu"] / 3600) < 1e-15


def sd14_config(folder):
    """A pipeline folder with only the SD 1.4 UNet's config (no weights)."""
    config = {"_class_name": "UNet2DConditionModel", "sample_size": 64, "in_channels": 4, "out_channels": 4,
              "layers_per_block": 2, "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 768,
              "attention_head_dim": 8, "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
              "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    return folder


def test_unet_flops_of_the_sd14_architecture(tmp_path):
    """803 GFLOP per evaluation at 64x64 latents (2 per multiply-add), the figure behind the reference rate."""
    assert abs(unet_flops(str(sd14_config(tmp_path))) - REFERENCE["flops_per_caption"] / 2) < 0.01e9


def test_plan_of_no_rows_says_whether_dedup_is_on(tmp_path, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["scan", str(tmp_path / "empty.txt"), "--plan"]) == 0
    assert "dedup: no rows to sample: 0 rows" in capsys.readouterr().out
    assert main(["scan", str(tmp_path / "empty.txt"), "--plan", "--no-dedup"]) == 0
    assert "every row scored (no dedup): 0 rows" in capsys.readouterr().out
