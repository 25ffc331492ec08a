"""The tables the study's analyses write in the `analytics` schema, in the order `compute` fills
them: their names, for whoever needs them without the statistics' libraries (the Dagster
definitions name an asset after each)."""

ANALYTICS_TABLES = (
    "km_estimates",
    "survival_tests",
    "landmark_survival",
    "survival_summaries",
    "follow_up",
    "group_comparisons",
    "cutoffs",
    "cox_models",
    "cumulative_incidence",
    "competing_risk_landmarks",
    "competing_risk_tests",
    "competing_risk_models",
)
