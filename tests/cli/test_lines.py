"""Every line a command prints or logs goes through one escaping: printable and without credentials."""
from __future__ import annotations

import logging

from audit.cli.main import main
from audit.lines import SafeLines


def test_a_verbose_traceback_is_redacted_like_every_other_line(tmp_path, capsys):
    assert main(["-v", "check", f"file://{tmp_path}/run?token=SECRETVALUE\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and err.rstrip().splitlines()[-1].startswith("error: ")
    assert "SECRETVALUE" not in err and "\x1b" not in err


def test_log_records_and_their_tracebacks_are_escaped_line_by_line():
    try:
        raise ValueError("s3://KEY:SECRETVALUE@bucket/x \x1b]0;pwned\x07")
    except ValueError as err:
        record = logging.LogRecord("audit", logging.ERROR, __file__, 1, "failed on %s", (str(err),),
                                   (type(err), err, err.__traceback__))
    assert SafeLines().filter(record)
    text = logging.Formatter().format(record)
    assert "SECRETVALUE" not in text and "\x1b" not in text and "\x07" not in text
    assert "s3://bucket/x \\x1b]0;pwned\\x07" in record.getMessage() and "Traceback" in text
