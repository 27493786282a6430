{#- dbt's on-run-start hook (dbt_project.yml): say which day a plain command works on, then
    what the project owns outside its models, on the target's engine. PostgreSQL:
    macros/bootstrap.sql (also run by the pipeline itself). Spark: macros/spark_bootstrap.sql,
    whose statements run as the hook is rendered (Spark runs one statement per call), leaving
    the hook itself empty. The sandbox target `dev` creates and grants nothing shared (and takes
    no lock of the pipeline's): it only reads raw and ops. -#}
{% macro adtech_on_run_start(api_role) -%}
    {%- do announce_run_date() -%}
    {%- if target.name != 'dev' -%}
        {{ adapter.dispatch('adtech_on_run_start', 'adtech_recs')(api_role) }}
    {%- elif execute and adapter.get_relation(target.database, 'ops', 'published_days') is none -%}
        {{ exceptions.raise_compiler_error(
            "the sandbox reads ops.published_days from the shared database, which has none yet:"
            ~ " run the pipeline once (make demo, or adtech run --date D) or build the default"
            ~ " target once") }}
    {%- endif -%}
{%- endmacro %}

{% macro default__adtech_on_run_start(api_role) -%}
    {{ adtech_bootstrap(api_role) }}
{%- endmacro %}

{% macro spark__adtech_on_run_start(api_role) -%}
    {%- if execute -%}
        {%- do spark_bootstrap() -%}
    {%- endif -%}
{%- endmacro %}

{#- A command given no run date works on a default day (macros/vars.sql: default_run_date) and
    says so, once, before any node runs; when there is none, it stops here with one line. -#}
{% macro announce_run_date() -%}
    {%- if execute and run_date_is_default() -%}
        {%- set day = run_date_iso() -%}
        {%- if flags.WHICH == 'test' -%}
            {%- do log("No run_date given: dbt test audits the latest published day, " ~ day
                ~ ", at the version the API serves (--vars '{run_date: YYYY-MM-DD}' for another"
                ~ " day)", info=True) -%}
        {%- else -%}
            {%- do log("No run_date given: dbt " ~ ('source freshness' if flags.WHICH == 'freshness' else flags.WHICH) ~ " works on the latest loaded day, "
                ~ day ~ " (--vars '{run_date: YYYY-MM-DD}' for another day)", info=True) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
