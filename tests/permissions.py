"""Unreadable folders in tests that run as root: this thread drops the capabilities that let root read any folder."""
from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from typing import Iterator

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capset(change) -> int:
    """Apply `change` to this thread's effective capabilities (low word); return the previous ones."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(LINUX_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    before = data[0].effective
    data[0].effective = change(before)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    return before


@contextmanager
def permissions_enforced() -> Iterator[None]:
    """While inside, file permissions bind this thread as they bind any user (a no-op when not root)."""
    if os.geteuid() != 0:
        yield
        return
    before = _capset(lambda caps: caps & ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)))
    try:
        yield
    finally:
        _capset(lambda caps: before)
