"""A site's REDCap project translated onto the canonical dictionary, by its mapping
(cartwh.contract.site_mapping): each canonical column as SQL over the site's columns — codes
recoded, checkbox options gathered, unit columns from the mapping's declarations, rows kept only
for the events that feed the column's form — and what of the site's project reaches no canonical
field, said once per file version. cartwh.ingest.redcap_loader loads the translated rows.
"""

from __future__ import annotations

from cartwh.contract.redcap import EVENT, DataDictionary
from cartwh.contract.redcap_site import SiteProject
from cartwh.contract.redcap_types import checkbox_export_code
from cartwh.contract.site_mapping import SiteMapping, unit_field_of
from cartwh.ingest.errors import Problem
from cartwh.ingest.warehouse import quote, quote_literal


def mapping_notes(project: SiteProject, header: list[str]) -> list[Problem]:
    """Reported once per file version: what of a site's project does not reach the canonical model."""
    if project.mapping is None:
        return [
            Problem(
                1,
                None,
                "the site's project has no mapping onto the canonical dictionary "
                "(mapping.yml): its records stay in its own raw tables only",
            )
        ]
    mapped = {m.site for m in project.mapping.fields}
    fields = {c: f.name for f in project.dictionary.fields for c in f.export_columns}
    return [
        Problem(1, c, "site field not mapped to the canonical dictionary: kept in the site's raw tables only")
        for c in header
        if c in fields and fields[c] not in mapped and fields[c] != project.dictionary.record_id_field
    ]


def base_field(column: str) -> str:
    """The dictionary name a column stems from: a checkbox option's (`<field>___<code>`) its
    field's, a form's status (`<form>_complete`) its form's."""
    return column.split("___")[0].removesuffix("_complete")


def translation(
    site: DataDictionary, canonical: DataDictionary, mapping: SiteMapping, present: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(canonical column -> SQL over the site's columns, canonical column -> site column)."""
    translated, back = {}, {}
    status_from: dict[str, str] = {}
    for m in mapping.fields:
        s, c = site.field(m.site), canonical.field(m.canonical)
        allowed = event_filter(mapping, c.form, present)
        status_from.setdefault(c.form, f"{s.form}_complete")
        if c.field_type == "checkbox":
            all_columns = [quote(col) for col in s.export_columns if col in present]
            if not all_columns:  # none of the site field's options in this export
                continue
            option = {sc: f"{m.site}___{checkbox_export_code(sc)}" for sc, _ in s.choices}  # its column
            for code, _ in c.choices:
                sources = [sc for sc, _ in s.choices if m.choices.get(sc, sc) == code]
                columns = [quote(option[sc]) for sc in sources if option[sc] in present]
                value = (
                    f"greatest({', '.join(columns)})"
                    if columns
                    else f"CASE WHEN coalesce({', '.join(all_columns)}) IS NOT NULL THEN '0' END"
                )
                target = f"{m.canonical}___{checkbox_export_code(code)}"
                translated[target] = f"CASE WHEN {allowed} THEN {value} END"
                back[target] = option[sources[0]] if sources else m.site
            continue
        if m.site not in present:
            continue
        value = quote(m.site)
        if m.choices:
            cases = " ".join(f"WHEN {quote_literal(sc)} THEN {quote_literal(cc)}" for sc, cc in m.choices.items())
            value = f"CASE trim({value}) {cases} ELSE {value} END"
        translated[m.canonical] = f"CASE WHEN {allowed} THEN {value} END"
        back[m.canonical] = m.site
    for site_field, code in mapping.units.items():
        m = mapping.for_site_field(site_field)
        if m.site in present:
            unit = unit_field_of(m.canonical)
            translated[unit] = f"CASE WHEN {translated[m.canonical]} IS NOT NULL THEN {quote_literal(code)} END"
            back[unit] = m.site
    for form, status in status_from.items():
        if status in present:
            translated[f"{form}_complete"] = (
                f"CASE WHEN {event_filter(mapping, form, present)} THEN {quote(status)} END"
            )
            back[f"{form}_complete"] = status
    return translated, back


def event_filter(mapping: SiteMapping, form: str, present: set[str]) -> str:
    """SQL: the row's event feeds canonical `form` (every event does, unless the mapping lists it)."""
    if not mapping.events or EVENT not in present:
        return "TRUE"
    feeding = [e for e in mapping.events if mapping.feeds(e, form)]
    listed = ", ".join(quote_literal(e) for e in mapping.events)
    return (
        f"({EVENT} NOT IN ({listed})"
        + (f" OR {EVENT} IN ({', '.join(quote_literal(e) for e in feeding)})" if feeding else "")
        + ")"
    )
