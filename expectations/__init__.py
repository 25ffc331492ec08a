"""Data-quality guards: Great Expectations suites (`suites/*.yml`) run on raw batches and marts."""
