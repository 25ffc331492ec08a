{#
    A key of several columns: each combination of their values names one row. Replaces `unique` on
    the columns concatenated into one string ("patient_key || '#' || instance"), which lets a row
    whose key has a NULL part through (the concatenation is NULL, and `unique` skips NULLs) and
    could take 'a#b' + 'c' for 'a' + 'b#c'. Plain GROUP BY, so it runs alike on DuckDB and Spark.
    Returns each repeated combination with its number of rows.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
