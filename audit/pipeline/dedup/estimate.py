"""`scan --plan`'s estimate of the fraction of rows dedup scores: distinct caption keys in a sample of rows,
scaled to the whole input with the GEE estimator (Charikar et al., PODS 2000: sqrt(N/n) x keys seen once in the
sample, plus keys seen more often), which neither assumes a distribution nor needs more than one pass."""
from __future__ import annotations

from collections import Counter
from itertools import islice

from audit.readers.dispatch import iter_shard
from audit.readers.inputs import Shard
from audit.readers.status import OK, combine_status
from audit.scoring.keys import KeyStage

SAMPLE_ROWS = 20_000  # rows sampled from evenly spaced units (the first rows of each)
SAMPLE_UNITS = 40


def gee_distinct(frequencies: Counter, sample: int, population: int) -> float:
    """GEE estimate of the distinct values of a population of `population` rows from a sample of `sample` rows in
    which value v was seen `frequencies[v]` times."""
    if not sample:
        return 0.0
    seen_once = sum(1 for n in frequencies.values() if n == 1)
    estimate = (population / sample) ** 0.5 * seen_once + (len(frequencies) - seen_once)
    return min(max(estimate, len(frequencies)), population)


def _sample(units: list[Shard], caption_column: str | None, caption_field: str | None) -> tuple[list[str], int]:
    """The scorable captions among the first rows of up to SAMPLE_UNITS evenly spaced units (SAMPLE_ROWS rows
    in all), and how many rows were sampled."""
    picked = units[:: max(1, len(units) // SAMPLE_UNITS)][:SAMPLE_UNITS]
    per_unit, captions, sampled = max(1, SAMPLE_ROWS // max(len(picked), 1)), [], 0
    for unit in picked:
        try:
            pieces = list(islice(iter_shard(unit, caption_column, caption_field, per_unit), 1))
        except Exception:  # noqa: BLE001 - an unreadable unit is the plan's row counts' to report, not the sample's
            continue
        for rows in pieces:
            head = list(islice(zip(rows.captions, rows.statuses), per_unit))
            sampled += len(head)
            captions += [c for c, r in head if combine_status(r, c) == OK]
    return captions, sampled


def distinct_fraction(units: list[Shard], population: int, model: str | None, caption_column: str | None = None,
                      caption_field: str | None = None) -> dict:
    """The estimated fraction of the `population` rows of `units` that dedup scores (distinct keys / rows), with
    the sample it came from."""
    captions, sampled = _sample(units, caption_column, caption_field)
    stage = KeyStage(model)
    stage.setup()
    keys = [k for k, _ in stage.keys(captions) if k is not None]
    keyed_population = round(population * len(keys) / sampled) if sampled else 0  # rows with a key, estimated
    distinct = gee_distinct(Counter(keys), len(keys), max(keyed_population, len(keys)))
    return {"sample_rows": sampled, "sample_distinct": len(set(keys)),
            "fraction": min(1.0, distinct / population) if population else 1.0}
