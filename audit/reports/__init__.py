"""Presenting a run: the Parquet report of `score`, report.html and its plots, `top`, the release gate."""
