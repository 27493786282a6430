{#- Types the models cast to, per adapter. PostgreSQL keeps its own names; Spark has no `text`
    or `double precision`, and dbt.type_float() is a 32-bit float there, so scores would lose
    precision and ties: these dispatch to string and double (64-bit, as on PostgreSQL). -#}
{% macro text_type() -%}
    {{- return(adapter.dispatch('text_type', 'adtech_recs')()) -}}
{%- endmacro %}

{% macro default__text_type() -%}
    {{- return('text') -}}
{%- endmacro %}

{% macro spark__text_type() -%}
    {{- return('string') -}}
{%- endmacro %}

{% macro double_type() -%}
    {{- return(adapter.dispatch('double_type', 'adtech_recs')()) -}}
{%- endmacro %}

{% macro default__double_type() -%}
    {{- return('double precision') -}}
{%- endmacro %}

{% macro spark__double_type() -%}
    {{- return('double') -}}
{%- endmacro %}
