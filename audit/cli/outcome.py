"""How a scan ended: its exit code with a one-line reason, and the final block the console shows."""
from __future__ import annotations

from audit.runfolder.storage import child

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_PARTIAL, EXIT_NOTHING_SCORED, EXIT_STALLED = 0, 1, 2, 3, 4, 5

EXIT_CODES = """\
exit codes: 0 complete: every shard scored (whether or not rows were flagged);
  1 other errors, or mitigation failed for some rows (their status is in mitigations.parquet);
  2 bad arguments or inputs, checked before Ray starts (a named file that does not exist, a pattern that
    matches no file, a missing caption column), or resuming with other score parameters;
  3 partial run: some shards failed, e.g. a corrupt file or one that vanished during the scan (named in
    summary.json; the report covers the others);
  4 nothing scored: the inputs have no rows, or no row could be scored (empty or invalid captions).
  5 stalled: no unit or batch finished for --stall-timeout seconds (e.g. scoring actors that no node can
    host, or a lost GPU node with none to replace it); the error names the step and the cluster's free
    resources; finished units are kept: run the same command again to resume.
  130 stopped by Ctrl-C or SIGTERM: finished units are kept; run the same command again to resume.
Exits 0, 3 and 4 write report.html; the console's `exit N:` line gives the reason."""


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def scan_exit(summary: dict, mitigation_failed: bool = False) -> tuple[int, str]:
    """The exit code of a finished scan and its reason, in one line."""
    failed, total = summary["shards"]["failed"], summary["shards"]["total"]
    if failed:
        more = f" (and {len(failed) - 1} more, see summary.json)" if len(failed) > 1 else ""
        return EXIT_PARTIAL, (f"partial: {len(failed)} of {_plural(total, 'shard')} failed: {failed[0]['source']}: "
                              f"{failed[0]['reason']}{more}")
    if not summary["rows_scored"]:
        if not summary["rows_read"]:
            return EXIT_NOTHING_SCORED, "nothing scored: the inputs have no rows"
        reasons = ", ".join(f"{k} {v:,}" for k, v in summary["rows_not_scored"].items())
        return EXIT_NOTHING_SCORED, f"nothing scored: no row of {summary['rows_read']:,} could be scored ({reasons})"
    if mitigation_failed:
        return EXIT_ERROR, "mitigation failed for some rows: see the status column of mitigations.parquet"
    return EXIT_OK, "complete"


def _flagging(summary: dict) -> str:
    rule = summary["flagging"]
    if rule["threshold"] is not None:
        return f"score above {rule['threshold']:.4g}, {rule['chosen_by']}"
    return rule["chosen_by"]


def _distinct(summary: dict) -> str:
    """`, 54 distinct captions`: how many captions the flagged rows are."""
    n = summary.get("flagged_captions")
    return "" if n is None else f", {n:,} distinct caption" + ("" if n == 1 else "s")


def mitigation_line(m: dict) -> str:
    """What mitigation did, in one line (`summary["mitigation"]`)."""
    once = f" ({m['distinct_captions']:,} distinct captions, each once)" if "distinct_captions" in m else ""
    took = f" in {m['seconds']:,.1f} s" if "seconds" in m else ""
    return (f"mitigated: {m['ok']:,} of {m['flagged']:,} flagged rows{once}{took}; under the threshold: rewrite "
            f"{m['rewrite_under_threshold']:,}, adapted embedding {m['embedding_under_threshold']:,}")


def pool_line(pool: dict) -> str:
    """`pool:     at most 2 actors at once on 2 nodes (elastic pool of up to 8)`, or that this process scored."""
    if pool.get("in_driver"):
        return "pool:     none: a small scan on this machine alone, scored in this process (Ray not started)"
    kind = f"elastic pool of up to {pool['max_actors']:,}" if pool["elastic"] else f"fixed pool of {pool['actors']:,}"
    return (f"pool:     at most {_plural(pool['most_at_once'], 'actor')} at once on "
            f"{_plural(pool['nodes_at_once'], 'node')} ({kind})")


def speed_lines(t: dict) -> list[str]:
    """How fast the model scored, the rows per wall second, and where the wall time went, phase by phase."""
    lines = []
    if t.get("model_captions_per_second"):
        lines.append(f"speed:    {t['model_captions_per_second']:,.1f} captions/s per actor in the model "
                     f"({t['captions_scored']:,} captions in {t['model_seconds']:,.2f} s); {t['rows_this_run']:,} rows "
                     f"in {t['wall_seconds']:,.1f} s wall ({t['rows_per_second'] or 0:,.1f} rows/s)")
    phases = ", ".join(f"{name} {seconds:,.1f} s" for name, seconds in t.get("phases", {}).items())
    if phases:
        lines.append(f"time:     {phases}")
    return lines


def final_block(summary: dict, output: str, log_file: str | None, code: int, reason: str) -> list[str]:
    """The lines that end a scan: counts, throughput, the exit status, where the logs and the report are (last)."""
    not_scored = sum(summary["rows_not_scored"].values())
    lines = [f"rows:     {summary['rows_read']:,} read, {summary['rows_scored']:,} scored, {not_scored:,} not scored; "
             f"{summary['flagged']:,} flagged{_distinct(summary)} ({_flagging(summary)})"]
    lines += speed_lines(summary["timing"])
    if summary.get("dedup"):
        d = summary["dedup"]
        lines.append(f"dedup:    {d['distinct_keys']:,} distinct caption keys among {d['keyed_rows']:,} scorable rows, "
                     f"{d['duplicate_rows']:,} duplicates: {d['scoring_saved']:.1%} of scoring saved "
                     f"({d['keys_scored_this_run']:,} scored in this run)")
    if summary.get("left_report", {}).get("inputs"):
        left = summary["left_report"]
        one = left["inputs"] == 1
        lines.append(f"earlier:  {_plural(left['inputs'], 'input')} of an earlier scan of this folder "
                     f"({_plural(left['rows'], 'row')}) {'is' if one else 'are'} not among these inputs: "
                     f"{'its' if one else 'their'} rows left the report")
    if summary.get("pool", {}).get("most_at_once"):
        lines.append(pool_line(summary["pool"]))
    if "mitigation" in summary:
        lines.append(mitigation_line(summary["mitigation"]))
    lines.append(f"exit {code}:   {reason}")
    if log_file:
        lines.append(f"{'log:     ' if summary.get('pool', {}).get('in_driver') else 'Ray log: '} {log_file}")
    lines.append(f"folder:   {child(output, '')} (report/ ranked Parquet, flagged.parquet, summary.json, plots/"
                 + (", mitigations.parquet, embeddings/" if "mitigation" in summary else "") + ")")
    lines.append(f"report:   {child(output, 'report.html')}")  # a URI's query stays at its end
    return lines
