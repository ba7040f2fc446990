"""Classifier-free-guided DDIM sampling, used to verify memorization by generating images."""
