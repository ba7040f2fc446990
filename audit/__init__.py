"""audit: find the training captions a text-to-image diffusion model has memorized."""

__version__ = "0.1.0"
