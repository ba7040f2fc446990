"""Procedural training data for the canary model: no downloads, every image made from a seed.

Three kinds of pairs share one caption style (pseudo-word captions over smooth colour textures):
duplicated pairs (the memorization targets), pairs seen once, and captions never seen. Simple
shape scenes with attribute captions give the model ordinary, generalizing text-to-image data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

RESOLUTION = 8
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
COLOURS = {
    "red": (0.9, -0.8, -0.8), "green": (-0.8, 0.7, -0.8), "blue": (-0.8, -0.6, 0.9),
    "yellow": (0.9, 0.8, -0.9), "purple": (0.4, -0.8, 0.6), "orange": (0.9, 0.1, -0.9),
    "white": (0.9, 0.9, 0.9), "black": (-0.9, -0.9, -0.9), "grey": (0.0, 0.0, 0.0),
    "pink": (0.9, 0.2, 0.5), "cyan": (-0.8, 0.8, 0.8), "brown": (0.2, -0.4, -0.7),
}
SHAPES = ("circle", "square", "triangle", "bar")
SIZES = {"small": 1.5, "large": 3.0}
PLACES = {"left": (4, 2), "right": (4, 6), "top": (2, 4), "bottom": (6, 4), "centre": (4, 4)}


@dataclass
class TexturePair:
    """One pseudo-word caption, its texture image, and the words no other caption uses."""

    caption: str
    image: torch.Tensor
    unique_words: list[str] = field(default_factory=list)


def pseudo_words(gen: torch.Generator, count: int, taken: set[str]) -> list[str]:
    """Draw `count` new pronounceable pseudo-words (2-3 syllables) not in `taken`, adding them to it."""
    words: list[str] = []
    while len(words) < count:
        n_syl = 2 + int(torch.randint(0, 2, (1,), generator=gen))
        idx = torch.randint(0, 1000, (2 * n_syl,), generator=gen).tolist()
        word = "".join(CONSONANTS[idx[2 * i] % len(CONSONANTS)] + VOWELS[idx[2 * i + 1] % len(VOWELS)] for i in range(n_syl))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def smooth_texture(gen: torch.Generator) -> torch.Tensor:
    """A random smooth RGB texture in [-1, 1]: a coarse 4x4 colour field plus fainter per-pixel detail."""
    coarse = torch.rand((1, 3, 4, 4), generator=gen) * 2 - 1
    fine = (torch.rand((1, 3, RESOLUTION, RESOLUTION), generator=gen) * 2 - 1) * 0.2
    up = lambda x: F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    return (up(coarse) + up(fine)).clamp(-1, 1)[0]


def texture_pairs(gen: torch.Generator, count: int, common: list[str], taken: set[str]) -> list[TexturePair]:
    """Captions of 4-6 words: two unique pseudo-words among 2-4 words of the shared vocabulary."""
    pairs = []
    for _ in range(count):
        unique = pseudo_words(gen, 2, taken)
        n_common = 2 + int(torch.randint(0, 3, (1,), generator=gen))
        shared = [common[i] for i in torch.randperm(len(common), generator=gen)[:n_common].tolist()]
        words = unique + shared
        order = torch.randperm(len(words), generator=gen).tolist()
        pairs.append(TexturePair(" ".join(words[i] for i in order), smooth_texture(gen), unique))
    return pairs


def scene(index: int, seed: int) -> tuple[str, torch.Tensor]:
    """Scene number `index`: a coloured shape of some size and place on a coloured background."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    pick = lambda options: options[int(torch.randint(0, len(options), (1,), generator=gen))]
    names = list(COLOURS)
    fg, bg = pick(names), pick(names)
    while bg == fg:
        bg = pick(names)
    shape, size, place = pick(SHAPES), pick(list(SIZES)), pick(list(PLACES))
    yy, xx = torch.meshgrid(torch.arange(RESOLUTION) + 0.5, torch.arange(RESOLUTION) + 0.5, indexing="ij")
    (cy, cx), r = PLACES[place], SIZES[size]
    cy, cx = cy + 0.5 * float(torch.randn(1, generator=gen)), cx + 0.5 * float(torch.randn(1, generator=gen))
    if shape == "circle":
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
    elif shape == "square":
        mask = ((yy - cy).abs() <= r * 0.8) & ((xx - cx).abs() <= r * 0.8)
    elif shape == "triangle":
        mask = (yy - cy <= r * 0.8) & ((xx - cx).abs() <= (yy - cy + r * 0.8) * 0.6)
    else:
        mask = ((yy - cy).abs() <= r * 0.3) & ((xx - cx).abs() <= r)
    image = torch.tensor(COLOURS[bg]).view(3, 1, 1).expand(3, RESOLUTION, RESOLUTION).clone()
    image[:, mask] = torch.tensor(COLOURS[fg]).view(3, 1)
    image = (image + 0.05 * torch.randn(image.shape, generator=gen)).clamp(-1, 1)
    return f"a {size} {fg} {shape} at the {place} on a {bg} background", image


def fresh_texture(index: int, seed: int, common: list[str], reserved: set[str]) -> tuple[str, torch.Tensor]:
    """Fresh pair number `index`: a new texture with a new caption of the labelled pairs' style, used once.

    These teach the model that such captions do not determine one image, as most web captions don't.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 500_000_000 + index)
    pair = texture_pairs(gen, 1, common, set(reserved))[0]
    return pair.caption, pair.image


@dataclass
class CanaryData:
    """All texture pairs of a canary build, by role."""

    duplicated: list[TexturePair]
    seen_once: list[TexturePair]
    never_seen: list[TexturePair]
    common_words: list[str]
    reserved_words: set[str]


def make_canary_data(seed: int, n_duplicated: int, n_seen_once: int, n_never_seen: int) -> CanaryData:
    """Generate every texture pair of a canary build deterministically from `seed`."""
    gen = torch.Generator().manual_seed(seed)
    taken: set[str] = set()
    common = pseudo_words(gen, 40, taken)
    return CanaryData(
        duplicated=texture_pairs(gen, n_duplicated, common, taken),
        seen_once=texture_pairs(gen, n_seen_once, common, taken),
        never_seen=texture_pairs(gen, n_never_seen, common, taken),
        common_words=common,
        reserved_words=set(taken),
    )


def reference_images(data: CanaryData, seed: int, n_scenes: int) -> torch.Tensor:
    """Training images a sample is compared with: duplicated then seen-once textures (in that order), then scenes."""
    textures = [p.image for p in data.duplicated + data.seen_once]
    return torch.cat([torch.stack(textures), torch.stack([scene(i, seed)[1] for i in range(n_scenes)])])
