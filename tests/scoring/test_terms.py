"""Exact checks of the score's pure functions against hand-computed values."""
import math

import pytest
import torch

from audit.scoring.noise import noise_bank
from audit.scoring.profiles import Profile
from audit.scoring.terms import authors_sd2_norm, combine, cosine_term, norm_term, v_to_eps
from audit.scoring.timesteps import probe_timesteps

SD14_SCHEDULER = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": False,
                  "skip_prk_steps": True, "steps_offset": 1, "clip_sample": False}


def test_sd_probe_timesteps_are_981_and_41():
    assert probe_timesteps(SD14_SCHEDULER) == (981, 41)


def test_probe_timesteps_follow_the_schedule_config():
    assert probe_timesteps({**SD14_SCHEDULER, "steps_offset": 0}) == (980, 40)
    assert probe_timesteps({**SD14_SCHEDULER, "timestep_spacing": "trailing"}) == (999, 59)


def test_norm_term_is_l2_over_the_whole_latent():
    e_c, e_u = torch.zeros(2, 4, 2, 2), torch.zeros(2, 4, 2, 2)
    e_c[0, 0, 0, 0], e_c[0, 3, 1, 1] = 3.0, 4.0
    e_c[1] += 1.0
    assert norm_term(e_c, e_u).tolist() == [5.0, 4.0]


def test_cosine_term_is_channelwise_then_spatial_mean():
    e_u = torch.zeros(1, 2, 1, 2)
    e_u[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    e_u[0, :, 0, 1] = torch.tensor([1.0, 1.0])
    e_c = e_u.clone()
    e_c[0, :, 0, 0] += torch.tensor([2.0, 0.0])   # guidance parallel to e_u: cos 1
    e_c[0, :, 0, 1] += torch.tensor([1.0, -1.0])  # guidance orthogonal: cos 0
    assert cosine_term(e_c, e_u).item() == 0.5


def test_v_to_eps_and_authors_norm():
    v, x = torch.full((1, 1, 1, 1), 2.0), torch.full((1, 1, 1, 1), 3.0)
    assert v_to_eps(v, x, 0.25).item() == pytest.approx(0.5 * 2.0 + math.sqrt(0.75) * 3.0, rel=1e-7)
    v_c, v_u = torch.full((1, 4, 1, 1), 1.0), torch.zeros(1, 4, 1, 1)
    assert authors_sd2_norm(v_c, v_u, 0.36).item() == pytest.approx(0.6 / 0.64 * 2.0, rel=1e-7)


def test_combine_weights():
    assert combine(torch.tensor(2.0), torch.tensor(0.5), Profile("p", 1.0, 2.0)).item() == 3.0


def test_noise_bank_is_seeded_cpu_float32():
    a, b = noise_bank(3, (4, 8, 8), 51), noise_bank(3, (4, 8, 8), 51)
    assert a.dtype == torch.float32 and a.shape == (3, 4, 8, 8)
    assert torch.equal(a, b)
    assert torch.equal(a, torch.randn((3, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(51)))
    assert not torch.equal(a, noise_bank(3, (4, 8, 8), 52))
