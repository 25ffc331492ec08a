{# A value lies in a band of a seed with lower/upper bounds (NULL = unbounded) and
   lower_inclusive/upper_inclusive flags, as in hematotox_bands. #}
{% macro in_band(value, band) -%}
    ({{ band }}.lower is null or {{ value }} > {{ band }}.lower
        or ({{ band }}.lower_inclusive and {{ value }} = {{ band }}.lower))
    and ({{ band }}.upper is null or {{ value }} < {{ band }}.upper
        or ({{ band }}.upper_inclusive and {{ value }} = {{ band }}.upper))
{%- endmacro %}
