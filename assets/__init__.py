"""Dagster assets: thin shells that call `cartwh` functions and report what they did."""
