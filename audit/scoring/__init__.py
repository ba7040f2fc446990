"""The denoising-free memorization score (Asthana & Belagiannis, ICLR 2026)."""

from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import Profile, resolve_profile

__all__ = ["Profile", "ScoreConfig", "Scorer", "resolve_profile"]
