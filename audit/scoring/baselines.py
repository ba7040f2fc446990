"""Reference procedures the engine is measured against: one caption at a time, nothing reused.

`naive_terms` does four single-row UNet evaluations per caption; `authors_procedure` mimics the
authors' script, which evaluates the network eight times per prompt (cond and uncond in pipeline-style
pairs, the timestep pass run twice). Both return the same terms as the engine for n = 1.
Not used by any command: only by the benchmark (jobs/bench.py) and the engine's parity tests.
"""
from __future__ import annotations

import torch

from audit.scoring.terms import cosine_term, norm_term, v_to_eps


def _states(model, text: str) -> torch.Tensor:
    ids = model.tokenizer([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    return model.text_encoder(ids.to(model.device))[0]


def _eps(model, x: torch.Tensor, t: int, states: torch.Tensor) -> torch.Tensor:
    out = model.unet(x, torch.full((x.shape[0],), t, device=x.device), encoder_hidden_states=states).sample.float()
    if model.prediction_type == "v_prediction":
        out = v_to_eps(out, x.float(), float(model.alphas_cumprod[t]))
    return out


@torch.inference_mode()
def naive_terms(model, caption: str, x_T: torch.Tensor, t_hi: int, t_lo: int) -> tuple[float, float]:
    """Norm and cosine terms from four separate single-row UNet calls (x_T: one latent, (1, C, H, W))."""
    cond, uncond = _states(model, caption), _states(model, "")
    n = norm_term(_eps(model, x_T, t_hi, cond), _eps(model, x_T, t_hi, uncond))
    e_u, e_c = _eps(model, x_T, t_lo, uncond), _eps(model, x_T, t_lo, cond)
    return float(n[0]), float(cosine_term(e_c, e_u)[0])


@torch.inference_mode()
def authors_procedure(model, caption: str, x_T: torch.Tensor, t_hi: int, t_lo: int) -> tuple[float, float]:
    """Eight evaluations per caption: [uncond, cond] pairs at both timesteps, the pass done twice."""
    states = torch.cat([_states(model, ""), _states(model, caption)])
    x = x_T.expand(2, -1, -1, -1)
    for _ in range(2):
        hi_u, hi_c = _eps(model, x, t_hi, states).chunk(2)
        lo_u, lo_c = _eps(model, x, t_lo, states).chunk(2)
    return float(norm_term(hi_c, hi_u)[0]), float(cosine_term(lo_c, lo_u)[0])
