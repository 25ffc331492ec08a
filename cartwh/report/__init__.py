"""The study report: figures, tables and the HTML page, from the analytics tables."""
