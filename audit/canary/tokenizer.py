"""Build a Stable-Diffusion-compatible CLIP BPE tokenizer offline from the public merges file.

The merges file `bpe_simple_vocab_16e6.txt.gz` ships inside the PyPI wheel of clip-anytorch;
we fetch that wheel with `pip download --no-deps` and never import the package.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CLIP_WHEEL = "clip-anytorch==2.6.0"
MERGES_MEMBER = "clip/bpe_simple_vocab_16e6.txt.gz"
N_MERGES = 49152 - 256 - 2  # SD's CLIP keeps this many merges: 256*2 byte symbols + merges + 2 specials = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins CLIP's BPE uses for raw bytes, in CLIP's vocabulary order.

    Printable Latin-1 bytes stand for themselves and come first; the other bytes are mapped
    to code points from 256 upwards and follow, in byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    n_other = 256 - len(printable)
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(n_other)]


def fetch_merges_gz(dest: Path) -> Path:
    """Download the clip-anytorch wheel (no dependencies, nothing imported) and extract the merges file."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, CLIP_WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            dest.write_bytes(zf.read(MERGES_MEMBER))
    return dest


def write_clip_tokenizer(merges_file: Path, out_dir: Path, vocab_size: int = 49408, pad_token: str = EOS,
                         max_length: int = 77) -> None:
    """Write vocab.json, merges.txt and configs of a CLIP BPE tokenizer (`max_length` tokens) from a merges file.

    `merges_file` is CLIP's gzipped merges or a tokenizer's merges.txt (both: one header line, then merges).
    The default is SD's tokenizer; a smaller `vocab_size` keeps only the first merges (every text still
    tokenizes: all byte symbols stay), and `pad_token` "!" is SDXL's second tokenizer's padding. A `max_length`
    under CLIP's 77 makes every caption's states shorter (the scorer truncates to the tokenizer's limit).
    """
    raw = Path(merges_file).read_bytes()
    lines = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8").split("\n")
    symbols = _byte_symbols()
    n_merges = vocab_size - 2 * len(symbols) - 2
    if not 0 <= n_merges <= N_MERGES:
        raise ValueError(f"vocab_size must be between {2 * len(symbols) + 2} and 49408, got {vocab_size}")
    merges = [tuple(line.split()) for line in lines[1 : n_merges + 1]]
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [BOS, EOS]
    if len(vocab_list) != vocab_size:
        raise ValueError(f"built a vocabulary of {len(vocab_list)} entries, expected {vocab_size}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab_list)}, ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": max_length,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": pad_token,
        "do_lower_case": True,
        "errors": "replace",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    specials = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": pad_token}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
