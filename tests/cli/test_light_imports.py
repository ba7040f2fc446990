"""Commands that need no model import no torch, diffusers, transformers or Ray: `--help`, `check`, `top`, `report`."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.report_run import write_run

HEAVY = ("torch", "diffusers", "transformers", "ray")
PROBE = """
import contextlib, io, json, sys
from audit.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _imports(*argv: str) -> dict:
    """The exit code of `memaudit argv` run in a fresh interpreter and the heavy modules it imported."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    scores = np.linspace(1.0, 0.0, 40)
    return write_run(tmp_path_factory.mktemp("light") / "run", scores, scores > 0.9, captions=True)


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["scan", "--help"], ["score", "--help"]])
def test_help_imports_no_model_library(argv):
    assert _imports(*argv) == {"code": 0, "heavy": []}


@pytest.mark.parametrize("command", [["check", "--max-flagged", "10"], ["top", "-k", "3"], ["report"]])
def test_folder_commands_import_no_model_library(run_dir, command):
    result = _imports(command[0], str(run_dir), *command[1:])
    assert result == {"code": 0, "heavy": []}, json.dumps(result)


def test_building_the_scoring_stage_imports_no_torch():
    """A scan's driver builds the stage its actors load: the options alone must not import torch or diffusers."""
    probe = ("import sys, argparse\n"
             "from audit.cli.options import add_model_options, stage_from_args\n"
             "parser = argparse.ArgumentParser(); add_model_options(parser)\n"
             "stage = stage_from_args(parser.parse_args(['--generations', '2', '--seed', '7']))\n"
             "assert (stage.config.generations, stage.config.seed) == (2, 7)\n"
             "print([m for m in ('torch', 'diffusers') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]
