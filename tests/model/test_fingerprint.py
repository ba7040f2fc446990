"""The model fingerprint sees every byte of every weight file, and a cached digest never hides a change."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from audit.model.fingerprint import cache_dir, fingerprint
from tests.conftest import build_tiny_pipeline
from tests.weights import rewrite_keeping_mtime, tensor_spans


@pytest.fixture
def model(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    return build_tiny_pipeline(tmp_path / "model")


def test_a_change_to_any_tensor_of_the_unet_or_text_encoder_changes_the_fingerprint(model):
    original = fingerprint(model)
    for weights in (model / "unet" / "diffusion_pytorch_model.safetensors", model / "text_encoder" / "model.safetensors"):
        for name, (start, end) in tensor_spans(weights).items():
            if end - start < 4:
                continue
            old = weights.read_bytes()[start:end]
            values = np.frombuffer(old, dtype=np.float32)
            scaled = (values * 1.01 + 1e-3).astype(np.float32).tobytes()  # a small fine-tune of this tensor alone
            rewrite_keeping_mtime(weights, start, scaled)
            assert fingerprint(model) != original, f"{weights.parent.name}: {name}"
            rewrite_keeping_mtime(weights, start, old)
            assert fingerprint(model) == original


def test_a_repeat_takes_digests_from_the_cache_until_a_file_is_touched(model):
    original = fingerprint(model)
    entries = list(cache_dir().glob("*.json"))
    assert entries
    for entry in entries:  # a cache that lies: the fingerprint shows it was read, not the files
        entry.write_text(json.dumps(json.loads(entry.read_text()) | {"sha256": "00" * 32}))
    assert fingerprint(model) != original
    for path in model.rglob("*"):
        if path.is_file():
            os.utime(path)  # a new stamp: every digest is computed again
    assert fingerprint(model) == original
