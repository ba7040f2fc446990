"""Classifier-free-guided DDIM sampling, used to verify memorization by generating images."""

from audit.sampling.ddim import ddim_sample

__all__ = ["ddim_sample"]
