"""Range-partitioned ranking: bucket-wise sorting must equal one global sort, ties included."""
from __future__ import annotations

import numpy as np

from audit.ranking.buckets import cut_points, score_sample, scored_bucket, unscored_bucket


def test_buckets_sorted_one_by_one_give_the_global_order():
    rng = np.random.default_rng(0)
    shards = [np.round(rng.normal(size=n), 1) for n in (500, 80, 1, 0, 300)]  # rounding makes many ties
    scores = np.concatenate(shards)
    row_id = np.arange(len(scores))
    cuts = cut_points([(score_sample(s), len(s)) for s in shards], rows_per_bucket=100)
    bucket = scored_bucket(scores, cuts)
    assert len(cuts) >= 5 and np.bincount(bucket).max() <= 300
    by_bucket = np.lexsort((row_id, -scores, bucket))
    assert np.array_equal(by_bucket, np.lexsort((row_id, -scores)))


def test_unscored_rows_split_by_row_id_range():
    row_id = np.arange(1000)
    bucket = unscored_bucket(row_id, first=4, count=3, total_rows=1000)
    assert set(bucket) == {4, 5, 6} and np.all(np.diff(bucket) >= 0)


def test_sample_is_descending_and_finite():
    sample = score_sample(np.array([np.nan, 3.0, 1.0, 2.0]))
    assert sample == [3.0, 2.0, 1.0]
    assert len(score_sample(np.arange(1000.0))) == 32 and score_sample(np.array([])) == []
