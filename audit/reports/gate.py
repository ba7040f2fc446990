"""Release gate on a run folder: judged on the folder's own evidence (shard markers, report/ itself), with
summary.json only as a claim to check against it, and each row's flag derived again from its score and the
recorded rule and the report's rows from the finished units' score files; then within the given limits."""
from __future__ import annotations

from dataclasses import dataclass

from audit.reports.evidence import Evidence, collect_evidence
from audit.reports.rederive import flag_mismatch, rows_mismatch
from audit.runfolder.folder import RunFolder


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


def _claims(run: RunFolder) -> tuple[dict, list, int, int, int, dict]:
    """summary.json's flagging rule, failed shards, rows read, flagged and not-scored rows; ValueError if malformed."""
    summary = run.summary()
    try:
        rule, failed, total = summary["flagging"], list(summary["shards"]["failed"]), int(summary["shards"]["total"])
        not_scored = {str(k): int(v) for k, v in dict(summary["rows_not_scored"]).items()}
        rule = {key: rule[key] for key in ("threshold", "top_k", "chosen_by")}
        claims = (rule, failed, int(summary["rows_read"]), int(summary["flagged"]), total, not_scored)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{run.address}: summary.json is malformed ({type(err).__name__}: {err})") from None
    return claims


def _judgeable(run: RunFolder) -> tuple[dict, Evidence]:
    """The flagging rule and the evidence of a complete run whose files agree; ValueError otherwise."""
    rule, failed, rows_read, flagged, total, not_scored = _claims(run)
    evidence = collect_evidence(run)
    failures = failed or evidence.failed
    if failures:
        first = failures[0]
        raise ValueError(f"partial run: {max(len(failed), len(evidence.failed))} of {total} shards failed "
                         f"({first.get('source')}: {first.get('reason')}); run the same scan again to finish them")
    marked = len(set(evidence.done_ids) | set(evidence.failed_ids))
    if evidence.done_rows is not None and marked != total:
        raise ValueError(f"summary.json counts {total:,} shards but done/ and failed/ mark {marked:,}")
    if evidence.done_rows is not None and evidence.done_rows != evidence.rows:
        raise ValueError(f"report/ has {evidence.rows:,} rows but the done markers count {evidence.done_rows:,}")
    if evidence.rows != rows_read:
        raise ValueError(f"report/ has {evidence.rows:,} rows but summary.json says {rows_read:,} were read")
    flagged_rows = run.flagged_rows()
    if flagged_rows != flagged or evidence.flagged != flagged:
        raise ValueError(f"flagged.parquet has {flagged_rows:,} rows and report/ flags {evidence.flagged:,}, "
                         f"but summary.json says {flagged:,}")
    evidence.flagged_captions = run.count_flagged_captions()
    claimed = run.summary().get("flagged_captions")  # absent in folders of older versions
    if claimed is not None and claimed != evidence.flagged_captions:
        raise ValueError(f"flagged.parquet holds {evidence.flagged_captions:,} distinct captions but summary.json "
                         f"says {claimed:,}")
    if sum(evidence.not_scored.values()) != sum(not_scored.values()):
        raise ValueError(f"report/ has {sum(evidence.not_scored.values()):,} rows not scored but summary.json "
                         f"says {sum(not_scored.values()):,}")
    scan_made = evidence.done_rows is not None  # hand-made folders have no score files to compare with
    mismatch = flag_mismatch(run, rule) or (rows_mismatch(run, evidence.done_ids) if scan_made else None)
    if mismatch:
        raise ValueError(mismatch)
    return rule, evidence


def check_run(address: str, max_flagged: int | None, max_failed_rows: int | None, count: str = "rows") -> Verdict:
    """Pass when at most `max_flagged` rows (`count` "rows") or distinct captions ("captions") were flagged and at
    most `max_failed_rows` could not be scored (None: no limit). ValueError/OSError when the folder cannot be
    judged: missing, unreadable or disagreeing files, failed shards (their rows were never looked at), or a
    flagged limit on a run with no flagging rule.
    """
    rule, evidence = _judgeable(RunFolder.at(address))
    if max_flagged is not None and rule["threshold"] is None and rule["top_k"] is None:
        raise ValueError("the run had no flagging rule, so its flagged count means nothing: scan with --threshold, "
                         "--top-k, --top-fraction or a profile with a threshold")
    rows, captions, failed_rows = evidence.flagged, evidence.flagged_captions, sum(evidence.not_scored.values())
    counted = {"rows": f"{rows:,} rows flagged ({captions:,} distinct captions; {rule['chosen_by']})",
               "captions": f"{captions:,} distinct captions flagged ({rows:,} rows; {rule['chosen_by']})"}[count]
    if max_flagged is not None and (rows if count == "rows" else captions) > max_flagged:
        return Verdict(False, f"{counted}, more than --max-flagged {max_flagged:,} {count}")
    if max_failed_rows is not None and failed_rows > max_failed_rows:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(evidence.not_scored.items()))
        return Verdict(False, f"{failed_rows:,} rows not scored ({reasons}), more than --max-failed-rows "
                              f"{max_failed_rows:,}")
    limit = f"{max_flagged:,} {count}" if max_flagged is not None else "none"
    limits = [f"{rows:,} flagged rows, {captions:,} distinct captions (limit {limit})",
              f"{failed_rows:,} not scored (limit {max_failed_rows if max_failed_rows is not None else 'none'})"]
    return Verdict(True, f"{', '.join(limits)} of {evidence.rows:,} rows")
