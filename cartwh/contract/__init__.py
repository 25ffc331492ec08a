"""The raw export contract: what the EDC and the cytometry lab deliver (docs/data-contract.md)."""
