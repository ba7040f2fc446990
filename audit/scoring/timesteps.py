"""The two probe timesteps, taken from the model's own default schedule (docs/flow-models.md for flow models)."""
from __future__ import annotations

from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

N_INFERENCE_STEPS = 50  # the paper's DDIM schedule
FLOW_STEPS = 28  # SD3's pipeline default
FLOW_SCHEDULER = "FlowMatchEulerDiscreteScheduler"


def probe_timesteps(scheduler_config: dict) -> tuple[float, float]:
    """(t_hi, t_lo): the first and the third-from-last timestep of the model's schedule: 50-step DDIM (981, 41 for
    SD), or for a flow-matching scheduler its FLOW_STEPS-step schedule (1000, 199.83 for SD3's shift 3)."""
    if scheduler_config.get("_class_name") == FLOW_SCHEDULER:
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)
        scheduler.set_timesteps(FLOW_STEPS)
        return float(scheduler.timesteps[0]), float(scheduler.timesteps[-3])
    scheduler = DDIMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(N_INFERENCE_STEPS)
    steps = [int(t) for t in scheduler.timesteps]
    return steps[0], steps[-3]


def flow_sigma(scheduler_config: dict, t: float) -> float:
    """The noise level sigma of a flow-matching timestep label (t = sigma x the training timestep count)."""
    return t / FlowMatchEulerDiscreteScheduler.from_config(scheduler_config).config.num_train_timesteps
