"""The scoring stage: a model loaded once (`setup`), then caption frames scored batch by batch (`process`).

Used in-process by `score` and once per Ray actor by `scan`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from audit import __version__
from audit.model.fingerprint import adapter_identity, source_fingerprint, with_adapters
from audit.model.lora_spec import LoraSpec
from audit.readers.status import OK, combine_status
from audit.scoring.config import ScoreConfig
from audit.scoring.profiles import Profile, resolve_profile


@dataclass
class ScoreStage:
    """Which model, how to score it, and which weights combine the terms."""

    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"  # bfloat16 on CUDA, float32 elsewhere (audit.model.loader.resolve_dtype)
    allow_pickle: bool = False
    config: ScoreConfig = field(default_factory=ScoreConfig)
    profile: str | None = None
    w_norm: float | None = None
    w_cos: float | None = None
    loras: tuple[LoraSpec, ...] = ()  # LoRA adapters applied to the model, in order
    model_config: str | None = None  # a single-file `model`: the diffusers folder or hub id whose configs describe it

    @property
    def described_by(self) -> str | None:
        """The pipeline folder (or hub id) whose configs and tokenizers describe the model (None: the canary)."""
        return self.model_config or self.model

    def setup(self) -> None:
        """Load the model and its noise bank once; resolve the score weights. (torch and diffusers are imported
        here: a scan's driver hands the stage to its actors without loading either.)"""
        from audit.model.loader import load_model
        from audit.scoring.engine import Scorer

        components = load_model(self.model, self.device, self.dtype, self.allow_pickle, self.loras,
                                config=self.model_config)
        self.scorer = Scorer(components, self.config)
        # a single file's profile is its config folder's, a LoRA's its base model's (until `evaluate` calibrates one)
        self.weights: Profile = resolve_profile(self.model_config or components.source, components.unet.config, self.profile,
                                                self.w_norm, self.w_cos, components.pipeline)

    def process(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add score columns to a frame with `caption` (raw values) and optional `read_status`."""
        from audit.scoring.terms import combine

        read = frame["read_status"] if "read_status" in frame else pd.Series([None] * len(frame), index=frame.index)
        status = [combine_status(r, c) for r, c in zip(read, frame["caption"])]
        ok = [i for i, s in enumerate(status) if s == OK]
        out = frame.drop(columns=["read_status"], errors="ignore").copy()
        norm, cos, n_tok, trunc = [float("nan")] * len(out), [float("nan")] * len(out), [None] * len(out), [None] * len(out)
        if ok:
            result = self.scorer.score([frame["caption"].iloc[i] for i in ok])
            for j, i in enumerate(ok):
                norm[i], cos[i] = result["norm"][j], result["cosine"][j]
                n_tok[i], trunc[i] = result["n_tokens"][j], result["truncated"][j]
                if result["no_tokens"][j]:
                    status[i], norm[i], cos[i] = "no_tokens", float("nan"), float("nan")
        out["norm"], out["cosine"] = norm, cos
        out["score"] = combine(out["norm"], out["cosine"], self.weights)
        out["n_tokens"] = pd.array(n_tok, dtype="Int64")
        out["truncated"] = pd.array(trunc, dtype="boolean")
        out["status"] = status
        return out

    def metadata(self) -> dict:
        """Everything that determines the numbers, for the report's schema metadata (`model_config` and `adapters`
        only for a single-file checkpoint and LoRA adapters: a pipeline folder's metadata is as before)."""
        from audit.model.loader import dtype_name

        scorer = self.scorer
        adapters = adapter_identity(list(self.loras))
        return {"tool": "audit", "version": __version__, "model": scorer.model.source,
                "model_fingerprint": with_adapters(source_fingerprint(scorer.model.source, self.model_config), adapters),
                **({"model_config": self.model_config} if self.model_config else {}),
                **({"adapters": adapters} if adapters else {}),
                "prediction_type": scorer.model.prediction_type, "dtype": dtype_name(scorer.model.dtype),
                "device": str(scorer.model.device), "batch_size": scorer.batch_size, "seed": self.config.seed,
                "generations": self.config.generations, "t_hi": scorer.t_hi, "t_lo": scorer.t_lo,
                "authors_sd2": self.config.authors_sd2,
                "w_norm": self.weights.w_norm, "w_cos": self.weights.w_cos, "threshold": self.weights.threshold,
                "profile": asdict(self.weights)}
