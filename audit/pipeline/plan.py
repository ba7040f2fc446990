"""`scan --plan`: what a scan would do, before it runs: files, rows, units and an estimate of GPU-hours.

Nothing is scored and no weights are loaded: rows come from Parquet footers (other kinds are counted), the
UNet's FLOPs from its config, the share of distinct captions (dedup) from a tokenized sample. The estimate
scales a measured throughput by FLOPs: on one H200, bfloat16,
`--compile`, batch 256, the SD 1.4 UNet scored 251.5 captions/s (2 evaluations of 803 GFLOP each), i.e.
404 TFLOP/s of useful work. Small models are bound by overheads (text encoder, data movement, kernel launches),
not UNet FLOPs: below MIN_SCALED_FLOPS per caption the plan gives no rate and asks for `--rate`.
"""
from __future__ import annotations

from collections import Counter

from audit.model.flops import unet_flops
from audit.model.source import DEFAULT_MODEL
from audit.pipeline.dedup.estimate import distinct_fraction
from audit.readers.counts import count_rows
from audit.readers.preflight import checked_inputs
from audit.readers.units import plan_units

REFERENCE = {"gpu": "NVIDIA H200", "model": "SD 1.4 UNet", "dtype": "bfloat16", "compiled": True,
             "captions_per_second": 251.5, "flops_per_caption": 2 * 803.27e9}
GPUS = (1, 8, 64)
MIN_SCALED_FLOPS = REFERENCE["flops_per_caption"] / 16  # ~100 GFLOP per caption: SD at 128 px latents and up
NO_RATE = ("FLOP scaling does not apply: a model this small is bound by overheads, not its UNet; measure "
           "captions/s, e.g. `memaudit score` on a sample of 1,000 captions, and pass it as --rate")


def plan_scan(inputs: list[str], model: str | None, unit_rows: int, rate: float | None = None, dedup: bool = True,
              caption_column: str | None = None, caption_field: str | None = None) -> dict:
    """The plan of a scan of `inputs` as a JSON-ready dict; with `dedup`, GPU-hours count the distinct captions
    estimated from a sample (its tokenizers are loaded, no weights)."""
    units = plan_units(checked_inputs(inputs, caption_column), unit_rows)
    files: dict[str, dict] = {}
    for unit in units:
        entry = files.setdefault(unit.source, {"source": unit.source, "kind": unit.kind, "rows": 0, "units": 0})
        entry["units"] += 1
        if unit.identity is None:
            entry["rows"], entry["error"] = None, unit.error or "file not found"
        elif unit.rows is not None:
            entry["rows"] += unit.rows
        elif unit.kind == "parquet":
            entry["rows"], entry["error"] = None, "unreadable Parquet footer"
        else:
            try:
                entry["rows"] += count_rows(unit)
            except (OSError, ValueError) as err:
                entry["rows"], entry["error"] = None, f"{type(err).__name__}: {err}"
    rows = sum(f["rows"] or 0 for f in files.values())
    flops = 2 * unet_flops(model or DEFAULT_MODEL)
    scaled = flops >= MIN_SCALED_FLOPS
    per_gpu = rate or (REFERENCE["captions_per_second"] * REFERENCE["flops_per_caption"] / flops if scaled else None)
    estimate = distinct_fraction(units, rows, model, caption_column, caption_field) if dedup and rows else None
    scored = rows * estimate["fraction"] if estimate else rows
    hours = scored / per_gpu / 3600 if per_gpu else None
    return {"files": len(files), "rows": rows, "units": len(units), "unit_rows": unit_rows,
            "kinds": dict(Counter(f["kind"] for f in files.values())),
            "unreadable": [f for f in files.values() if f["rows"] is None],
            "model": model or DEFAULT_MODEL, "flops_per_caption": flops,
            "captions_per_second_per_gpu": per_gpu,
            "rate_from": "--rate" if rate else f"FLOPs scaled from {REFERENCE['model']} on one {REFERENCE['gpu']}"
            if scaled else NO_RATE,
            "dedup": estimate, "dedup_enabled": dedup, "rows_to_score": round(scored), "gpu_hours": hours,
            "wall_hours": {str(n): hours / n for n in GPUS} if hours is not None else None,
            "per_file": list(files.values())}


def _dedup_line(plan: dict) -> str:
    d = plan["dedup"]
    if d is None:
        how = "dedup: no rows to sample" if plan["dedup_enabled"] else "every row scored (no dedup)"
        return f"{how}: {plan['rows_to_score']:,} rows"
    return (f"dedup: about {d['fraction']:.1%} of rows are distinct captions (estimated from {d['sample_rows']:,} "
            f"sampled rows, {d['sample_distinct']:,} distinct): about {plan['rows_to_score']:,} to score")


def format_plan(plan: dict) -> str:
    """The plan for the console: a few lines."""
    per_gpu = plan["captions_per_second_per_gpu"]
    lines = [f"{plan['files']:,} files ({', '.join(f'{n} {k}' for k, n in plan['kinds'].items())}), "
             f"{plan['rows']:,} rows, {plan['units']:,} units of up to {plan['unit_rows']:,} rows",
             f"model {plan['model']}: {plan['flops_per_caption'] / 1e9:,.1f} GFLOP per caption, "
             + (f"{per_gpu:,.1f} captions/s per GPU ({plan['rate_from']})" if per_gpu else
                f"no rate estimate ({plan['rate_from']})"),
             _dedup_line(plan),
             f"{plan['gpu_hours']:,.3g} GPU-hours: " + ", ".join(
                 f"{hours:,.3g} h on {n} GPU{'s' * (n != '1')}" for n, hours in plan["wall_hours"].items())
             if plan["gpu_hours"] is not None else "GPU-hours: unknown without --rate"]
    lines += [f"cannot count {f['source']}: {f['error']}" for f in plan["unreadable"]]
    return "\n".join(lines)
