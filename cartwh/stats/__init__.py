"""Statistics of the study, as plain functions on pandas data; no Dagster, no DuckDB."""

__all__ = [
    "comparisons",
    "competing_risks",
    "conventions",
    "cox",
    "cutoffs",
    "design",
    "fine_gray",
    "firth",
    "partial_likelihood",
    "survival",
]
