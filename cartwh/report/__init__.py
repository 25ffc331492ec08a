"""The study report: figures, tables and the HTML page, from the analytics tables."""

__all__ = [
    "figures",
    "formatting",
    "methods",
    "panels",
    "pdf",
    "render",
    "tables",
]
