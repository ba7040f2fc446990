"""Loading the parts of a diffusion pipeline that scoring needs."""
