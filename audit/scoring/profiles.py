"""Model profiles: the two weights of the combined score and, when calibrated, a flagging threshold.

Weights are model specific (paper: SD 1.x norm 1 / cos 2, SD 2.x norm 1 / cos 0.1; no published weights for
SDXL or SD3). A model folder may ship its calibrated profile as `audit_profile.json`; `evaluate` writes files of the
same form.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from audit.model.families import SD3_PIPELINE, SDXL_PIPELINE

log = logging.getLogger(__name__)

PROFILE_FILE = "audit_profile.json"


@dataclass(frozen=True)
class Profile:
    """Weights of S = w_norm N + w_cos C, an optional threshold on S, the median S of clean captions (the
    mitigation's target), and where they came from."""

    name: str
    w_norm: float
    w_cos: float
    threshold: float | None = None
    source: str = "built-in"
    clean_median: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


BUILTIN = {
    "sd1": Profile("sd1", 1.0, 2.0, source="paper, SD 1.x"),
    "sd2": Profile("sd2", 1.0, 0.1, source="paper, SD 2.x"),
    "realistic-vision": Profile("realistic-vision", 2.0, 1.0, source="paper, Realistic Vision 5.1"),
    # No published SDXL weights: the norm term alone, the steadiest signal across models and training lengths
    # (docs: canary notes), until `evaluate` calibrates the model. Never use these to compare with the paper.
    "sdxl": Profile("sdxl", 1.0, 0.0, source="provisional, UNCALIBRATED: norm term alone until `evaluate` "
                                             "calibrates this SDXL model"),
    # SD3 / SD3.5 (flow matching, docs/flow-models.md): no published weights and no flow canary yet: the norm term
    # (on the velocity) alone, until `evaluate` calibrates the model.
    "sd3": Profile("sd3", 1.0, 0.0, source="provisional, UNCALIBRATED: norm term alone until `evaluate` "
                                           "calibrates this SD3 model"),
}
UNCALIBRATED = {"sdxl", "sd3"}
PIPELINE_FAMILIES = {SDXL_PIPELINE: "sdxl", SD3_PIPELINE: "sd3"}  # families told by model_index.json's class
_warned: set[str] = set()


def load_profile(path: str | Path) -> Profile:
    """Read a profile JSON file (as written by `evaluate`), checking its fields."""
    try:
        data = json.loads(Path(path).read_text())
        return Profile(name=str(data.get("name", Path(path).stem)), w_norm=float(data["w_norm"]),
                       w_cos=float(data["w_cos"]),
                       threshold=None if data.get("threshold") is None else float(data["threshold"]),
                       source=str(data.get("source", path)),
                       clean_median=None if data.get("clean_median") is None else float(data["clean_median"]))
    except FileNotFoundError:
        raise ValueError(f"profile file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a valid profile file ({err})") from None


def model_family(unet_config, source: str, pipeline: str | None = None) -> str | None:
    """'sdxl' / 'sd3' for an SDXL / SD3 pipeline (model_index.json's `_class_name`), else 'sd1' or 'sd2' from the
    UNet's text-conditioning width (768 / 1024), else None."""
    if pipeline in PIPELINE_FAMILIES:
        return PIPELINE_FAMILIES[pipeline]
    width = getattr(unet_config, "cross_attention_dim", None)
    if unet_config.in_channels == 4 and width == 768:
        return "sd1"
    if unet_config.in_channels == 4 and width == 1024:
        return "sd2"
    return None


def resolve_profile(model_source: str, unet_config, profile: str | None = None,
                    w_norm: float | None = None, w_cos: float | None = None, pipeline: str | None = None) -> Profile:
    """Pick the profile: a file or built-in name given, else the model folder's own, else its family's
    (`pipeline`: model_index.json's `_class_name`).

    Explicit weights override whichever profile was chosen (dropping its clean median, a score of the old
    weights). An unknown family gets SD 1.x weights and a warning, since weights are model specific; a family
    without published weights (SDXL, SD3) gets provisional ones and a warning, once per model and process.
    """
    if profile in BUILTIN:
        chosen = BUILTIN[profile]
    elif profile is not None:
        chosen = load_profile(profile)
    elif (Path(model_source) / PROFILE_FILE).is_file():
        chosen = load_profile(Path(model_source) / PROFILE_FILE)
    elif (family := model_family(unet_config, model_source, pipeline)) is not None:
        chosen = BUILTIN[family]
    else:
        log.warning("unknown model family for %s: using the SD 1.x weights (norm 1, cos 2); run `evaluate` "
                    "on known memorized and clean captions to calibrate weights for this model", model_source)
        chosen = Profile("default", 1.0, 2.0, source="SD 1.x weights, model family unknown")
    if w_norm is not None or w_cos is not None:
        chosen = Profile(chosen.name + "+override", chosen.w_norm if w_norm is None else w_norm,
                         chosen.w_cos if w_cos is None else w_cos, chosen.threshold, chosen.source + ", weights overridden")
    warn_uncalibrated(chosen, model_source)
    return chosen


def warn_uncalibrated(profile: Profile, model_source: str) -> None:
    """Warn, once per model and process, when a family's provisional weights (no published ones) score a model."""
    if profile.name not in UNCALIBRATED or profile != BUILTIN[profile.name] or model_source in _warned:
        return
    _warned.add(model_source)
    log.warning("%s: no calibrated weights for %s models (no audit_profile.json in the model folder): using the "
                "provisional %r profile (norm %g, cos %g), UNCALIBRATED. Run `memaudit evaluate --model %s --memorized "
                "MEM.txt --clean CLEAN.txt` on known memorized and clean captions and pass its profile.json with "
                "--profile (or save it as %s in the model folder)", model_source, profile.name.upper(), profile.name,
                profile.w_norm, profile.w_cos, model_source, PROFILE_FILE)
