"""Commands that need no model import no torch, diffusers, transformers or Ray: `--help`, `check`, `top`, `report`."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.report_run import write_run

HEAVY = ("torch", "diffusers", "transformers", "ray")
MAIN = """
import contextlib, io
from audit.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        result["code"] = main(sys.argv[1:])
    except SystemExit as exit:
        result["code"] = exit.code
"""


def _run(code: str, *argv: str) -> dict:
    """Run `code` (which fills the dict `result`) in a fresh interpreter; `result` with the heavy modules that
    interpreter had imported by then under "heavy"."""
    report = "\nprint(json.dumps(dict(result, heavy=[m for m in %r if m in sys.modules])))" % (HEAVY,)
    done = subprocess.run([sys.executable, "-c", "import json, sys\nresult = {}\n" + code + report, *argv],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _imports(*argv: str) -> dict:
    """The exit code of `memaudit argv` run in a fresh interpreter and the heavy modules it imported."""
    return _run(MAIN, *argv)


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


def test_building_the_scoring_stage_imports_no_model_library():
    """A scan's driver builds the stage its actors load: the options alone import no torch, diffusers,
    transformers or Ray."""
    stage = ("import argparse\n"
             "from audit.cli.options import add_model_options, stage_from_args\n"
             "parser = argparse.ArgumentParser(); add_model_options(parser)\n"
             "stage = stage_from_args(parser.parse_args(['--generations', '2', '--seed', '7']))\n"
             "result['config'] = [stage.config.generations, stage.config.seed]\n")
    assert _run(stage) == {"config": [2, 7], "heavy": []}
