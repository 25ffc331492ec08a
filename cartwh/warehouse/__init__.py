"""Where do the data live, and who reads them?

`connection` opens the working warehouse (its raw bookkeeping tables ready), quotes and inserts;
`archive_ledger` keeps the order in which every archived export version landed, and `rebuild`
replays it into a fresh warehouse (`cartwh rebuild`); `publish` writes the analysts' copy and
`status` says what it holds (`cartwh status`); `permissions` decides who may read which file;
`project_versions`, `unrecognised_files` and `record_ids` are what ingestion records beside the
rows (which project each REDCap file was read with, what the landing folder holds that no source
reads, the data manager's way back to a record), read here by the data-quality pages.
"""

__all__ = [
    "archive_ledger",
    "connection",
    "permissions",
    "project_versions",
    "publish",
    "rebuild",
    "record_ids",
    "status",
    "unrecognised_files",
]
