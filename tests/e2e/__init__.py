"""The end-to-end tests: every test here is marked e2e by its folder (tests/conftest.py), and no other is."""
