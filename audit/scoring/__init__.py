"""The denoising-free memorization score (Asthana & Belagiannis, ICLR 2026): engine, terms, profiles."""
