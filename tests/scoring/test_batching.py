"""Batch size choice: a pure function of memory figures (GPU path), a fixed size on CPU; dtype 'auto' by device."""
from __future__ import annotations

import pytest
import torch

from audit.model.loader import resolve_dtype
from audit.scoring.batching import CPU_BATCH, batch_for_memory
from audit.scoring.stage import ScoreStage

GiB, MiB = 1 << 30, 1 << 20


@pytest.mark.parametrize("free, row, per_caption, max_rows, expected", [
    (130 * GiB, 60 * MiB, 2, 512, 256),   # an H200 at n=1: one UNet call of 512 rows fills the batch
    (130 * GiB, 60 * MiB, 8, 512, 64),    # n=4: 8 rows per caption
    (20 * GiB, 100 * MiB, 2, 512, 80),    # memory-bound: 163 rows fit -> 81 captions -> multiple of 8
    (1 * GiB, 100 * MiB, 2, 512, 4),      # under 8 captions: no rounding
    (10 * MiB, 100 * MiB, 2, 512, 1),     # never below one caption
])
def test_batch_for_memory(free, row, per_caption, max_rows, expected):
    assert batch_for_memory(free, row, per_caption, max_rows) == expected


def test_batch_for_memory_grows_with_free_memory_and_respects_the_call_limit():
    sizes = [batch_for_memory(g * GiB, 80 * MiB, 2, 512) for g in range(1, 100)]
    assert sizes == sorted(sizes) and max(sizes) == 256


def test_auto_dtype_and_batch_on_cpu_are_recorded(tiny_eps):
    assert resolve_dtype("auto", torch.device("cuda")) == "bfloat16"
    assert resolve_dtype("auto", torch.device("cpu")) == resolve_dtype("float32", torch.device("cpu")) == "float32"
    stage = ScoreStage(model=str(tiny_eps), device="cpu")
    stage.setup()
    assert stage.scorer.batch_size == CPU_BATCH
    assert (stage.metadata()["dtype"], stage.metadata()["batch_size"]) == ("float32", CPU_BATCH)
