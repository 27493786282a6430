{#- dbt's on-run-start hook (dbt_project.yml): what the project owns outside its models, on the
    target's engine. PostgreSQL: macros/bootstrap.sql (also run by the pipeline itself). Spark:
    macros/spark_bootstrap.sql, whose statements run as the hook is rendered (Spark runs one
    statement per call), leaving the hook itself empty. -#}
{% macro adtech_on_run_start(api_role) -%}
    {{ adapter.dispatch('adtech_on_run_start', 'adtech_recs')(api_role) }}
{%- endmacro %}

{% macro default__adtech_on_run_start(api_role) -%}
    {{ adtech_bootstrap(api_role) }}
{%- endmacro %}

{% macro spark__adtech_on_run_start(api_role) -%}
    {%- if execute -%}
        {%- do spark_bootstrap() -%}
    {%- endif -%}
{%- endmacro %}
