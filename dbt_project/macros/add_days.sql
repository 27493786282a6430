{#- A date column moved `days` days later, as a date. PostgreSQL adds an integer to a date;
    Spark has date_add. Zero days is the column itself. -#}
{% macro add_days(column, days) -%}
    {%- if days | int == 0 -%}
        {{- return(column) -}}
    {%- endif -%}
    {{- return(adapter.dispatch('add_days', 'adtech_recs')(column, days | int)) -}}
{%- endmacro %}

{% macro default__add_days(column, days) -%}
    {{- return('(' ~ column ~ ' + ' ~ days ~ ')') -}}
{%- endmacro %}

{% macro spark__add_days(column, days) -%}
    {{- return('date_add(' ~ column ~ ', ' ~ days ~ ')') -}}
{%- endmacro %}
