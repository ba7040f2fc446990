"""Run the command line of this checkout in a new process with a clean environment, as a fresh user would."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list, home: Path) -> subprocess.CompletedProcess:
    """`python -m audit ARGS` of this checkout: offline, one torch thread, HOME at `home`, nothing else inherited."""
    env = {"HF_HUB_OFFLINE": "1", "AUDIT_TORCH_THREADS": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "audit", *map(str, args)], capture_output=True, text=True, timeout=600,
                          env=env)
