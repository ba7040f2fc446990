"""Captions per scoring batch: fixed on CPU; on CUDA the most that the UNet call limit and free memory allow.

The GPU figure is probed once per scorer (one extra UNet call) and turned into a batch size by a pure
function, so the choice itself is testable without a GPU.
"""
from __future__ import annotations

from typing import Callable

import torch

CPU_BATCH = 32  # enough to amortize Python overhead; larger batches do not speed up CPU convolutions
MEMORY_HEADROOM = 0.8  # fraction of the free memory a batch may use: allocator fragmentation, cuDNN workspaces
PROBE_ROWS = 8  # UNet rows of the memory probe call


def batch_for_memory(free_bytes: int, row_bytes: int, rows_per_caption: int, max_unet_rows: int,
                     headroom: float = MEMORY_HEADROOM) -> int:
    """Captions per batch such that one UNet call (at most `max_unet_rows` rows) fits in `free_bytes`.

    Memory is spent per UNet call, so a batch larger than one call's rows only queues more calls: the
    batch fills one call (`max_unet_rows // rows_per_caption` captions), fewer if memory runs short.
    Multiples of 8 (tensor-core friendly) when at least 8.
    """
    if rows_per_caption < 1 or max_unet_rows < 1:
        raise ValueError("rows_per_caption and max_unet_rows must be >= 1")
    fits_rows = int(free_bytes * headroom // max(row_bytes, 1))
    captions = min(max_unet_rows, fits_rows) // rows_per_caption
    return max(1, captions - captions % 8 if captions >= 8 else captions)


def probe_row_bytes(call: Callable[[], object], rows: int, device: torch.device) -> int:
    """Peak CUDA memory per UNet row of `call()` (a UNet call of `rows` rows), above what was allocated before."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    call()
    torch.cuda.synchronize(device)
    return max(1, (torch.cuda.max_memory_allocated(device) - before) // rows)


def free_bytes(device: torch.device) -> int:
    """Memory this process can still allocate on the device: the driver's free figure plus torch's idle cache."""
    return torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
