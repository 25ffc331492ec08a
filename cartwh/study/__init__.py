"""The study's analyses: the plan in `analyses.yml` run on the marts, giving the `analytics.*` tables.
What the plan may say is `analyses_file.py` (its models, and the JSON schema editors use); the Plan
the statistics and the report read is `config.py`."""

__all__ = [
    "analyses_file",
    "analytics_tables",
    "blocking",
    "competing_risk_analyses",
    "compute",
    "config",
    "group_comparisons",
    "survival_analyses",
]
