"""The raw export contract: what the EDC and the cytometry lab deliver (docs/data-contract.md)."""

__all__ = [
    "cytometry",
    "dates",
    "free_text",
    "redcap",
    "redcap_dictionary",
    "redcap_odm",
    "redcap_project",
    "redcap_site",
    "redcap_types",
    "reference",
    "site_mapping",
]
