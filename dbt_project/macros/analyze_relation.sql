{#- Post-hook of the intermediate tables: fresh statistics before the marts read them.
    PostgreSQL: `analyze` (a table made by `create table as` has none until autovacuum runs,
    and the planner then sorted all of a day's ad events). Spark: the table's size only
    (`noscan`: no extra job), which is what its join planning uses to choose a broadcast. -#}
{% macro analyze_relation(relation) -%}
    {{- return(adapter.dispatch('analyze_relation', 'adtech_recs')(relation)) -}}
{%- endmacro %}

{% macro default__analyze_relation(relation) -%}
    {{- return('analyze ' ~ relation) -}}
{%- endmacro %}

{% macro spark__analyze_relation(relation) -%}
    {{- return('analyze table ' ~ relation ~ ' compute statistics noscan') -}}
{%- endmacro %}
