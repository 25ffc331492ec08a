{# docs/definitions.md "Endpoints", BCA rows: how each ending of a B-cell aplasia episode
   (int__bca_episodes.bca_outcome) is coded in the time-to-event table, written once.
   CNSR 0 = event (the aplasia ends by the patient's own course: loss of BCA, relapse of any CD19
   status); 1 = censored, BCA persistent at the last B-cell sample; 2 = censored at consolidative
   HSCT; 3 = censored at death. #}
{% macro bca_endings() -%}
    {{ return({
        'persistent': (1, 'B-cell aplasia persistent at last B-cell assessment'),
        'b_cell_recovery_in_remission': (0, 'loss of B-cell aplasia (B-cell recovery in remission)'),
        'cd19_negative_relapse_during_bca': (0, 'CD19-negative relapse during B-cell aplasia'),
        'relapse_during_bca': (0, 'relapse during B-cell aplasia'),
        'consolidative_hsct_during_bca': (2, 'consolidative HSCT during B-cell aplasia'),
        'death_during_bca': (3, 'death during B-cell aplasia'),
    }) }}
{%- endmacro %}

{% macro bca_cnsr(outcome_column) -%}
    case {{ outcome_column }}
        {%- for outcome, coded in bca_endings().items() %}
        when '{{ outcome }}' then {{ coded[0] }}
        {%- endfor %}
    end
{%- endmacro %}

{% macro bca_event_description(outcome_column) -%}
    case {{ outcome_column }}
        {%- for outcome, coded in bca_endings().items() %}
        when '{{ outcome }}' then '{{ coded[1] }}'
        {%- endfor %}
    end
{%- endmacro %}
