"""Shared test set-up: a fixed pseudonymisation secret, so ingestion never falls back to the
public demo secret (and never logs its warning) during the test run."""

import os

os.environ["CARTWH_PSEUDONYM_KEY"] = "cartwh-test-secret-not-for-real-patients"
