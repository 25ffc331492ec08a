"""Can the data be trusted?

The data-quality pages, written at the end of every night: `quality_report` (the analysts' page,
de-identified, and its short version in the study report), `data_manager_report` (the data
manager's restricted report: every open issue with its record and what to do), `root_causes`
(issues grouped by cause), `data_docs` (the Great Expectations results as offline pages);
`dbt_tests` (the dbt tests that warned or failed, kept for the pages) and `published_quality`
(what of all this the analysts' published copy holds). The checks themselves are in
`expectations/` and `dbt_project/tests/`.
"""

__all__ = ["data_docs", "data_manager_report", "dbt_tests", "published_quality", "quality_report", "root_causes"]
