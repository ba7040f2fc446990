"""Ranking scored rows and writing them as Parquet reports."""
