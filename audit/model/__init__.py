"""Loading the parts of a diffusion pipeline that scoring needs."""

from audit.model.loader import ModelComponents, load_model

__all__ = ["ModelComponents", "load_model"]
