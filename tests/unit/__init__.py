"""The tests of one package's code, in a folder named after it: none is end-to-end (tests/conftest.py)."""
