"""Where a model comes from (the bundled canary, a local folder or a hub id), importable without torch: keying,
planning and the CLI's parser need it, not the model."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "assets" / "canary")


class ModelLoadError(ValueError):
    """The model source cannot be loaded as a text-to-image diffusion pipeline."""


def is_local(source: str) -> bool:
    """True for a model folder, False for a hub id; ModelLoadError for a path that names no folder."""
    if os.path.isdir(source):
        return True
    if source.startswith(("/", ".", "~")) or source.count("/") != 1:
        raise ModelLoadError(f"{source}: no such model folder")
    return False


@contextmanager
def load_errors(source: str, allow_pickle: bool):
    """Turn library load failures into one concise ModelLoadError."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = "" if allow_pickle or "safetensors" not in str(err) else " (only safetensors weights load unless --allow-pickle)"
        raise ModelLoadError(f"{source}: {first}{hint}") from None


SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")


def is_single_file(source: str) -> bool:
    """True for a single-file checkpoint (a .safetensors or .ckpt file), which needs a config folder beside it."""
    return source.endswith(SINGLE_FILE_SUFFIXES) and os.path.isfile(source)
