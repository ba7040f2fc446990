"""What the release gate derives again instead of counting: each row's flag from its score and the recorded
rule, and the report's rows from the score files of the finished units (one Parquet batch in memory at a time)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.runfolder.folder import RunFolder

ROW_COLUMNS = ["source", "row_index", "score"]  # what identifies a row and its number, in report/ and scores/


@dataclass
class FlagTally:
    """Flags against scores, one batch at a time: enough to judge a threshold or a top-k rule, ties included."""

    scored: int = 0
    flagged: int = 0
    flagged_unscored: int = 0
    above_unflagged: int = 0  # threshold rule: rows over it but not flagged
    flagged_not_above: int = 0  # threshold rule: flagged rows at or under it
    lowest_flagged: float = math.inf
    highest_unflagged: float = -math.inf

    def add(self, scores: np.ndarray, flags: np.ndarray, threshold: float | None) -> None:
        scored = np.isfinite(scores)
        self.scored += int(scored.sum())
        self.flagged += int(flags.sum())
        self.flagged_unscored += int((flags & ~scored).sum())
        if (flags & scored).any():
            self.lowest_flagged = min(self.lowest_flagged, float(scores[flags & scored].min()))
        if (~flags & scored).any():
            self.highest_unflagged = max(self.highest_unflagged, float(scores[~flags & scored].max()))
        if threshold is not None:
            above = scored & (scores > threshold)
            self.above_unflagged += int((above & ~flags).sum())
            self.flagged_not_above += int((flags & ~above).sum())


def _top_fraction(chosen_by: str) -> float | None:
    """The fraction of a `--top-fraction F` rule, as the scan records it in `chosen_by`."""
    head, _, value = chosen_by.partition(" ")
    return float(value) if head == "--top-fraction" else None


def flag_mismatch(run: RunFolder, rule: dict) -> str | None:
    """Why report/'s flags are not those its scores and `rule` give (None when they are): a threshold flags
    exactly the rows scoring above it; a top k flags min(k, scored rows) rows, none scoring under an unflagged
    one (ties at the cut may go either way); no rule flags nothing."""
    tally = FlagTally()
    for batch in run.report_batches(["score", "flagged"]):
        scores = batch.column("score").to_numpy(zero_copy_only=False).astype(float)
        flags = batch.column("flagged").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        tally.add(scores, flags, rule["threshold"])
    if tally.flagged_unscored:
        return f"report/ flags {tally.flagged_unscored:,} rows that have no score"
    if rule["threshold"] is not None:
        if tally.above_unflagged or tally.flagged_not_above:
            return (f"report/ disagrees with its threshold {rule['threshold']:.6g}: {tally.above_unflagged:,} rows "
                    f"score above it but are not flagged, {tally.flagged_not_above:,} flagged rows do not")
        return None
    if rule["top_k"] is None:
        return f"report/ flags {tally.flagged:,} rows but the run had no flagging rule" if tally.flagged else None
    fraction = _top_fraction(str(rule["chosen_by"]))
    if fraction is not None and rule["top_k"] != math.ceil(fraction * tally.scored):
        return (f"summary.json's top k {rule['top_k']:,} is not {rule['chosen_by']} of the {tally.scored:,} scored "
                f"rows in report/")
    expected = min(int(rule["top_k"]), tally.scored)
    if tally.flagged != expected or tally.lowest_flagged < tally.highest_unflagged:
        return (f"report/'s flags are not the top {rule['top_k']:,} scores: {tally.flagged:,} flagged where "
                f"{expected:,} should be, the lowest flagged score {tally.lowest_flagged:.6g}, the highest unflagged "
                f"{tally.highest_unflagged:.6g}")
    return None


def _row_digest(batch: pa.RecordBatch) -> tuple[int, int]:
    """(rows, sum of one 64-bit hash per row of source, row index and score bits): equal for the same rows in
    any order."""
    frame = pd.DataFrame({"source": batch.column("source").to_pandas().astype(object),
                          "row_index": batch.column("row_index").to_numpy(zero_copy_only=False).astype(np.int64),
                          "score": batch.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
                          .view(np.int64)})
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return len(frame), int(hashes.sum(dtype=np.uint64))


def _digest(batches) -> tuple[int, int]:
    rows, total = 0, 0
    for batch in batches:
        n, h = _row_digest(batch)
        rows, total = rows + n, (total + h) % 2**64
    return rows, total


def rows_mismatch(run: RunFolder, done_ids: list[str]) -> str | None:
    """Why report/'s rows (source, row index, score) are not those of the finished units' scores/ files; None
    when they are the same rows."""
    def score_batches():
        for sid in done_ids:  # a missing file holds no rows: the counts then disagree unless the unit had none
            if run.exists("scores", f"{sid}.parquet"):
                yield from pq.ParquetFile(run.scores(sid), filesystem=run.fs).iter_batches(columns=ROW_COLUMNS)

    report, scores = _digest(run.report_batches(ROW_COLUMNS)), _digest(score_batches())
    if report != scores:
        return (f"report/'s {report[0]:,} rows are not the {scores[0]:,} rows of the finished units' scores/ files "
                f"(sources, row indexes or scores differ)")
    return None
