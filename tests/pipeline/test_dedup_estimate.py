"""`scan --plan`'s share of distinct captions: the GEE estimator, and the plan on a file with known duplicates."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import caption

from audit.pipeline.dedup.estimate import gee_distinct
from audit.pipeline.plan import plan_scan


def test_gee_is_exact_on_a_full_sample_and_scales_singletons():
    values = Counter({"a": 3, "b": 1, "c": 1})
    assert gee_distinct(values, 5, 5) == 3  # the whole population: what was seen
    assert gee_distinct(values, 5, 500) == 10 * 2 + 1  # sqrt(500 / 5) x 2 seen once, + 1 seen more often
    assert gee_distinct(Counter({"x": 1}), 1, 4) == 2
    assert gee_distinct(Counter(), 0, 10) == 0


def test_plan_estimates_the_distinct_share_of_a_zipf_file(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.minimum(rng.zipf(1.6, 60_000), 5_000)
    pq.write_table(pa.table({"TEXT": [caption(int(i)) for i in ids]}), tmp_path / "z.parquet", row_group_size=5_000)
    true = len(set(ids)) / len(ids)
    plan = plan_scan([str(tmp_path / "z.parquet")], None, 10_000, rate=100.0)  # the canary has no FLOP-scaled rate
    d = plan["dedup"]
    assert d["sample_rows"] == 6 * (20_000 // 6)  # the first rows of each of the 6 units
    assert true / 2 < d["fraction"] < true * 2, (d, true)
    assert plan["rows_to_score"] == round(60_000 * d["fraction"])
    plain = plan_scan([str(tmp_path / "z.parquet")], None, 10_000, rate=100.0, dedup=False)
    assert plain["dedup"] is None and plain["rows_to_score"] == 60_000
    assert plan["gpu_hours"] / plain["gpu_hours"] == pytest.approx(d["fraction"], rel=1e-3)  # of rounded rows
