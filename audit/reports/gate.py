"""Release gate on a run folder: usable and complete (else ValueError), then within the given limits."""
from __future__ import annotations

from dataclasses import dataclass

from audit.runfolder.folder import RunFolder


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


def _checked_summary(run: RunFolder) -> dict:
    """summary.json of a complete run whose report/ and flagged.parquet agree with it; ValueError otherwise."""
    summary = run.summary()
    try:
        failed, total = summary["shards"]["failed"], summary["shards"]["total"]
        rows_read, flagged = summary["rows_read"], summary["flagged"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{run.address}: summary.json lacks {err}") from None
    if failed:
        first = failed[0]
        raise ValueError(f"partial run: {len(failed)} of {total} shards failed ({first['source']}: "
                         f"{first['reason']}); run the same scan again to finish them")
    report_rows = run.report_rows()
    if report_rows != rows_read:
        raise ValueError(f"report/ has {report_rows:,} rows but summary.json says {rows_read:,} were read")
    flagged_rows = run.flagged_rows()
    if flagged_rows != flagged:
        raise ValueError(f"flagged.parquet has {flagged_rows:,} rows but summary.json says {flagged:,}")
    return summary


def check_run(address: str, max_flagged: int | None, max_failed_rows: int | None) -> Verdict:
    """Pass when at most `max_flagged` rows were flagged and at most `max_failed_rows` could not be scored
    (None: no limit). ValueError/OSError when the folder cannot be judged: missing or unreadable files,
    failed shards (their rows were never looked at), or a flagged limit on a run that had no flagging rule.
    """
    run = RunFolder.at(address)
    summary = _checked_summary(run)
    rule, flagged = summary["flagging"], summary["flagged"]
    if max_flagged is not None and rule["threshold"] is None and rule["top_k"] is None:
        raise ValueError("the run had no flagging rule, so its flagged count means nothing: scan with --threshold, "
                         "--top-k, --top-fraction or a profile with a threshold")
    failed_rows = sum(summary["rows_not_scored"].values())
    if max_flagged is not None and flagged > max_flagged:
        return Verdict(False, f"{flagged:,} rows flagged ({rule['chosen_by']}), more than --max-flagged "
                              f"{max_flagged:,}")
    if max_failed_rows is not None and failed_rows > max_failed_rows:
        reasons = ", ".join(f"{k} {v:,}" for k, v in summary["rows_not_scored"].items())
        return Verdict(False, f"{failed_rows:,} rows not scored ({reasons}), more than --max-failed-rows "
                              f"{max_failed_rows:,}")
    limits = [f"{flagged:,} flagged (limit {max_flagged if max_flagged is not None else 'none'})",
              f"{failed_rows:,} not scored (limit {max_failed_rows if max_failed_rows is not None else 'none'})"]
    return Verdict(True, f"{', '.join(limits)} of {summary['rows_read']:,} rows")
