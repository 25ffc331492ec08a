"""Where the suite finds what it reads, named once: a test module may sit at any depth under
tests/ (tests/unit/<package>/, tests/e2e/), so none counts parent folders from its own file."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent  # the checkout
FIXTURES = TESTS / "fixtures"
DBT_PROJECT = ROOT / "dbt_project"
SEEDS = DBT_PROJECT / "seeds"
REAL_EXPORTS = ROOT.parent / "shared" / "real-exports"  # kept beside the checkout, never in it
