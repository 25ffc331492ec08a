"""How do a site's exports come from REDCap's API (`cartwh pull`, the night's first step)?

`redcap` pulls a site's project (metadata, the records changed since the last pull, the deletions)
into the landing folder, in the shapes a data manager would drop there; `redcap_api` reads every
answer of the server the way a night that carries a secret must.
"""

__all__ = ["redcap", "redcap_api"]
