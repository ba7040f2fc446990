"""Shared fixtures: single-threaded torch, no network, and tiny random SD-, SDXL- and SD3-shaped pipeline folders."""
from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("AUDIT_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"audit-test-cache-{os.getuid()}"))
# Every Ray the tests start (ray.init, `ray start`, Cluster nodes) keeps its idle workers for a minute, not Ray's
# 1 s: each Ray Data step of a small scan would otherwise start new worker processes (~1.6 CPU-s each, 9 a scan)
os.environ.setdefault("RAY_idle_worker_killing_time_threshold_ms", "60000")

from pathlib import Path
from typing import Iterator

import pytest
import torch

from audit.canary.train import save_pipeline
from audit.model.loader import DEFAULT_MODEL
from tests import ray_session

torch.set_num_threads(1)

TOKENIZER_DIR = Path(DEFAULT_MODEL) / "tokenizer"


def build_tiny_pipeline(out: Path, prediction_type: str = "epsilon", seed: int = 0) -> Path:
    """A random SD 1.x-shaped pipeline (4 latent channels, cross attention, CLIP text encoder), tiny widths."""
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
    )
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=4, max_position_embeddings=77, bos_token_id=49406,
                                        eos_token_id=49407, pad_token_id=49407))
    save_pipeline(out, unet, text, TOKENIZER_DIR, {})
    sched = DDIMScheduler.from_pretrained(out, subfolder="scheduler")
    sched.register_to_config(prediction_type=prediction_type)
    sched.save_pretrained(out / "scheduler")
    return out


def build_tiny_sdxl_pipeline(out: Path, zeros_for_empty: bool = True, seed: int = 0) -> Path:
    """A random SDXL-shaped pipeline: two CLIP encoders (the second with projection; its tokenizer pads with "!"
    and, unlike SDXL's, has a smaller vocabulary, so the two count tokens differently), a UNet with `text_time`
    added conditioning, and a VAE config (scale 8: images 64 x 64); no VAE weights."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from audit.canary.tokenizer import write_clip_tokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8, addition_embed_type="text_time",
        addition_time_embed_dim=4, projection_class_embeddings_input_dim=12 + 6 * 4,
    )
    config = lambda vocab, **extra: CLIPTextConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32,
                                                   num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                                                   bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1,
                                                   **extra)
    tokenizer_2 = out.parent / f"{out.name}-tokenizer_2"
    write_clip_tokenizer(TOKENIZER_DIR / "merges.txt", tokenizer_2, vocab_size=1024, pad_token="!")
    index = {"force_zeros_for_empty_prompt": zeros_for_empty, "vae": ["diffusers", "AutoencoderKL"]}
    save_pipeline(out, unet, CLIPTextModel(config(49408)), TOKENIZER_DIR, index,
                  CLIPTextModelWithProjection(config(1024, projection_dim=12)), tokenizer_2)
    (out / "vae").mkdir()
    (out / "vae" / "config.json").write_text('{"_class_name": "AutoencoderKL", "block_out_channels": [8, 8, 8, 8]}')
    return out


@pytest.fixture(scope="session")
def tiny_eps(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny_eps"), "epsilon", seed=0)


@pytest.fixture(scope="session")
def tiny_v(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny_v"), "v_prediction", seed=1)


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory) -> Path:
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tiny_sdxl"), zeros_for_empty=True, seed=2)


@pytest.fixture(scope="module", autouse=True)
def _shared_ray_only_where_asked(request) -> None:
    """Stop the Ray that test modules share (`local_ray`) before a module that does not use it: the module may start
    its own, or test what happens with no Ray at all."""
    if not any(item.module is request.module and "local_ray" in item.fixturenames for item in request.session.items):
        ray_session.release()


@pytest.fixture(scope="session", autouse=True)
def _release_shared_ray_at_the_end() -> Iterator[None]:
    yield
    ray_session.release()


@pytest.fixture(scope="module")
def ray_with_state_api() -> str:
    """A local Ray on loopback with the dashboard, which serves the state API used to find actor processes; its URL.

    Pass the URL to `ray.util.state` calls: without it they look for a Ray on this machine and fail when
    another process runs one too.
    """
    import ray

    context = ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield f"http://{context.dashboard_url}"
    ray.shutdown()


# End-to-end tests (seconds to minutes each: they start Ray, scan, mitigate, train or run the tool in a new
# process) are `slow`; `pytest -m "not slow"` is the fast subset of library tests. CI runs both.
END_TO_END_FOLDERS = {"pipeline", "canary", "mitigation", "cluster", "jobs"}
END_TO_END_MODULES = {"test_api.py", "test_sdxl_cli.py", "test_lora_cli.py", "test_report_browser.py", "test_light_imports.py",
                      "test_score_cli.py", "test_help.py"}
END_TO_END_FIXTURES = {"local_ray", "ray_with_state_api", "run", "runs"}  # a Ray instance, a scanned run folder


# Test-seconds of the heaviest modules (measured, quiet 2-core machine, two workers); a stale figure costs balance,
# never a test.
HEAVY_MODULES = {
    "pipeline/test_gpu_pool.py": 116, "cluster/test_multinode.py": 115, "pipeline/test_dedup_resume.py": 104,
    "pipeline/test_actor_failure.py": 94, "pipeline/test_s3.py": 87, "pipeline/test_resume.py": 86,
    "pipeline/test_dedup.py": 78, "pipeline/test_scan_console.py": 58, "pipeline/test_scan.py": 57,
    "canary/test_canary.py": 54, "mitigation/test_mitigator_restart.py": 49, "jobs/test_gpu_check.py": 46,
    "mitigation/test_mitigation.py": 45, "cli/test_sdxl_cli.py": 40, "pipeline/test_run_folder_trust.py": 40,
    "mitigation/test_pool.py": 38, "pipeline/test_sd3_scan.py": 38, "cluster/test_connect.py": 36,
    "pipeline/test_job_submit.py": 32, "mitigation/test_resume.py": 29, "cli/test_lora_cli.py": 29,
    "pipeline/test_units_scan.py": 25, "pipeline/test_ranking_parity.py": 24, "cli/test_score_cli.py": 19,
    "canary/test_sd3_canary_cli.py": 16,
}
# The modules that use `local_ray`: one worker runs them all, one after another, on one Ray started once
SHARED_RAY_MODULES = {
    "pipeline/test_dedup.py", "pipeline/test_dedup_resume.py", "pipeline/test_ranking_parity.py",
    "pipeline/test_resume.py", "pipeline/test_run_folder_trust.py", "pipeline/test_scan.py",
    "pipeline/test_scan_console.py", "pipeline/test_sd3_scan.py", "pipeline/test_units_scan.py",
}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].removeprefix("tests/")


def _group(nodeid: str) -> str:
    """What one worker runs whole: all of SHARED_RAY_MODULES together, every other module alone."""
    return "shared Ray" if _module(nodeid) in SHARED_RAY_MODULES else _module(nodeid)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent with `-p no:xdist`
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with the modules that share a Ray as one unit (xdist's own `loadgroup` cannot group
    them: pytest 9 ignores the node ids it rewrites)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedRayScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return SharedRayScheduling(config, log)


def pytest_collection_modifyitems(items) -> None:
    """Mark the end-to-end tests `slow`; order the tests for two workers: the heaviest units first (in this order:
    `--no-loadscope-reorder`), the many short modules after, so that both workers end together."""
    if unlisted := {_module(item.nodeid) for item in items if "local_ray" in item.fixturenames} - SHARED_RAY_MODULES:
        raise pytest.UsageError(f"tests/conftest.py: add {sorted(unlisted)} to SHARED_RAY_MODULES (they use local_ray)")
    modules: dict[str, set[str]] = {}
    for item in items:
        path = Path(str(item.path))
        if (path.parent.name in END_TO_END_FOLDERS or path.name in END_TO_END_MODULES
                or END_TO_END_FIXTURES & set(item.fixturenames)):
            item.add_marker(pytest.mark.slow)
        modules.setdefault(_group(item.nodeid), set()).add(_module(item.nodeid))
    weight = {group: sum(HEAVY_MODULES.get(m, 0) for m in members) for group, members in modules.items()}
    order = {group: k for k, group in enumerate(modules)}
    items.sort(key=lambda item: (-weight[_group(item.nodeid)], order[_group(item.nodeid)]))  # stable: tests keep order


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory) -> Path:
    from tests.sd3_folder import build_tiny_sd3_pipeline

    return build_tiny_sd3_pipeline(tmp_path_factory.mktemp("tiny_sd3"), TOKENIZER_DIR, t5=True, seed=3)


@pytest.fixture(scope="session")
def tiny_sd3_no_t5(tmp_path_factory) -> Path:
    from tests.sd3_folder import build_tiny_sd3_pipeline

    return build_tiny_sd3_pipeline(tmp_path_factory.mktemp("tiny_sd3_no_t5"), TOKENIZER_DIR, t5=False, seed=4)
