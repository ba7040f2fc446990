"""Global ranking of scored rows: rank 1 is the caption most likely memorized."""
from __future__ import annotations

import numpy as np
import pandas as pd

from audit.ranking.flagging import Flagging
from audit.readers.status import OK


def rank_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by score (highest first, ties by row id); unscored rows follow with a null rank."""
    scored = frame["status"].eq(OK) & frame["score"].notna()
    ordered = pd.concat([
        frame[scored].sort_values(["score", "row_id"], ascending=[False, True], kind="stable"),
        frame[~scored].sort_values("row_id", kind="stable"),
    ])
    ranks = pd.array([*range(1, int(scored.sum()) + 1), *[None] * int((~scored).sum())], dtype="Int64")
    return ordered.assign(rank=ranks).reset_index(drop=True)


def flag_frame(ranked: pd.DataFrame, flagging: Flagging) -> pd.DataFrame:
    """`ranked` (from `rank_frame`) with `flagged` by the rule, as `scan`'s report flags rows."""
    scores = ranked["score"].to_numpy(dtype=float, na_value=np.nan)
    ranks = ranked["rank"].fillna(0).to_numpy(dtype=np.int64)
    return ranked.assign(flagged=flagging.flags(scores, ranks))
