"""Every command's --help: each default said once, no doubled percent signs, no pointer to itself."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from audit.cli.main import build_parser, main

COMMANDS = ("score", "scan", "evaluate", "mitigate", "report", "top", "check")


def _commands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("command", COMMANDS)
def test_help_says_each_default_once(command, capsys):
    parser = _commands()[command]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS) or action.dest == "help":
            continue
        shown = formatter._expand_help(action).lower()  # the option's help as --help prints it
        assert shown.count("default") <= 1, (command, action.dest, shown)
        if action.default is not None and action.nargs != 0:  # an option taking a value, with a default
            assert "default" in shown, (command, action.dest, shown)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and f"`{command} --help`" not in text


def test_mitigations_same_as_reads_as_nullable_integers(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    from audit.mitigation.results import to_table

    frame = pd.DataFrame({"rank": [1, 2], "row_id": [7, 9], "caption": ["a", "a"], "status": ["ok", "ok"],
                          "edits": [1, 1], "same_as": [None, 7]})
    pq.write_table(to_table(frame), tmp_path / "mitigations.parquet")
    read = pd.read_parquet(tmp_path / "mitigations.parquet")
    assert str(read["same_as"].dtype) == "Int64" and read["same_as"].tolist() == [pd.NA, 7]
    assert str(read["row_id"].dtype) == "int64" and str(read["rewrite_converged"].dtype) == "boolean"


def test_open_run_gives_dataframes_and_library_noise_stays_off_the_console(tmp_path):
    import numpy as np
    import pandas as pd

    from audit import api
    from tests.report_run import write_run

    folder = write_run(tmp_path / "run", np.array([3.0, 2.0, 1.0]), np.array([True, True, False]), captions=True)
    top = api.open_run(str(folder)).top_flagged(1)
    assert isinstance(top, pd.DataFrame) and top["caption"].tolist() == ["caption 0"]
    done = subprocess.run([sys.executable, "-m", "audit", "report", str(folder)], capture_output=True, text=True,
                          timeout=120, env={"MPLCONFIGDIR": str(tmp_path / "matplotlib"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and done.stderr == "", done.stderr  # a first run builds matplotlib's font cache
    assert (tmp_path / "matplotlib").is_dir()
