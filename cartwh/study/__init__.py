"""The study's analyses: the plan in `analyses.yml` run on the marts, giving the `analytics.*` tables."""
