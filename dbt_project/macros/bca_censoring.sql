{# docs/definitions.md "Endpoints", BCA rows: how each ending of a B-cell aplasia episode
   (int__bca_episodes.bca_outcome) is coded in the time-to-event table, written once.
   cnsr: 0 = event (the aplasia ends by the patient's own course: loss of BCA, relapse of any CD19
   status); 1 = censored, BCA persistent at the last B-cell sample; 2 = censored at consolidative
   HSCT; 3 = censored at death. cause: the competing-risk cause of the ending (docs/definitions.md
   "Competing causes"), NULL for the persistent aplasia censored at its last sample. #}
{% macro bca_endings() -%}
    {{ return({
        'persistent': {'cnsr': 1, 'evntdesc': 'B-cell aplasia persistent at last B-cell assessment', 'cause': none},
        'b_cell_recovery_in_remission': {'cnsr': 0, 'evntdesc': 'loss of B-cell aplasia (B-cell recovery in remission)',
                                         'cause': 'b_cell_recovery'},
        'cd19_negative_relapse_during_bca': {'cnsr': 0, 'evntdesc': 'CD19-negative relapse during B-cell aplasia',
                                             'cause': 'cd19_negative_relapse'},
        'relapse_during_bca': {'cnsr': 0, 'evntdesc': 'relapse during B-cell aplasia', 'cause': 'relapse'},
        'consolidative_hsct_during_bca': {'cnsr': 2, 'evntdesc': 'consolidative HSCT during B-cell aplasia',
                                          'cause': 'consolidative_hsct'},
        'death_during_bca': {'cnsr': 3, 'evntdesc': 'death during B-cell aplasia', 'cause': 'death'},
    }) }}
{%- endmacro %}

{# One coded column (`field`: cnsr, evntdesc or cause) of the ending in `outcome_column`; NULL where the
   ending has no such code. #}
{% macro bca_coded(outcome_column, field) -%}
    case {{ outcome_column }}
        {%- for outcome, coded in bca_endings().items() if coded[field] is not none %}
        when '{{ outcome }}' then {{ coded[field] if field == 'cnsr' else "'" ~ coded[field] ~ "'" }}
        {%- endfor %}
    end
{%- endmacro %}
