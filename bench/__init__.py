"""`make bench`: how the night scales with the registry's size (bench/benchmark.py). Not part of the
product: nothing in cartwh/, assets/ or orchestration/ imports it."""
