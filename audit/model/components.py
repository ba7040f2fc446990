"""What the score needs from a loaded pipeline, whatever its family."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.model.conditioning import TextConditioning

FLOW = "flow"  # the prediction type recorded for flow-matching models (the network predicts the velocity eps - x0)


@dataclass
class ModelComponents:
    """What the score needs from a pipeline, already on its device and dtype."""

    source: str
    unet: torch.nn.Module  # the denoising network: a UNet2DConditionModel, or SD3's SD3Transformer2DModel
    text_encoder: torch.nn.Module  # the first (SD: only) text encoder and its tokenizer
    tokenizer: object
    scheduler_config: dict
    alphas_cumprod: torch.Tensor | None  # float64, one entry per training timestep; None for flow models
    prediction_type: str  # 'epsilon', 'v_prediction' or FLOW
    device: torch.device
    dtype: torch.dtype
    text: object | None = None  # how captions condition the network; None: SD's, from the one encoder
    pipeline: str | None = None  # model_index.json's `_class_name`

    def __post_init__(self) -> None:
        if self.text is None:
            self.text = TextConditioning([self.tokenizer], [self.text_encoder], self.dtype)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's latents, read from the network's config (never assumed)."""
        cfg = self.unet.config
        size = cfg.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return cfg.in_channels, h, w
