{#- Pre-hook of the versioned marts: remove the rows this build already wrote for its run dates
    (a retried task), before delete+insert writes them again. Other versions of the day, the
    served one above all, are never touched: publication switches the API to the new version and
    drops superseded ones afterwards (pipeline/steps/publication.py). A build that names the served
    version itself (a task of an already published run, cleared and run again) stops here:
    rebuilding it in place would change answers while the API serves them.
    Dispatched: PostgreSQL (default) checks and deletes in one hook; Spark below. -#}
{% macro clear_build() -%}
    {{ adapter.dispatch('clear_build', 'adtech_recs')() }}
{%- endmacro %}

{% macro default__clear_build() -%}
    {%- if is_incremental() -%}
        do $guard$ declare served date; begin
            select min(date) into served from ops.published_days
            where {{ in_run_dates('date') }} and version = {{ build_version() }};
            if served is not null then
                raise exception 'version % of % is published and is never rebuilt in place: run the day again (a new run builds a new version)',
                    {{ build_version() }}, served;
            end if;
        end $guard$;
        delete from {{ this }} where {{ in_run_dates('date') }} and version = {{ build_version() }}
    {%- endif -%}
{%- endmacro %}

{#- Spark: the marts are partitioned by (date, version) and written by dynamic partition
    overwrite, which replaces only the partitions the new batch has rows for: a retried build
    whose batch came out empty would leave its earlier rows in place. So the build's own
    partition is dropped first, explicitly. The guard reads Spark's ops.published_days (made by
    macros/spark_bootstrap.sql), which the pipeline overwrites with PostgreSQL's before every
    build (pipeline/spark/serving.py mirror_publications); PostgreSQL's landing step refuses to
    overwrite a served version too. Hooks run one statement each on Spark, so the guard runs
    here, as the hook is rendered. -#}
{% macro spark__clear_build() -%}
    {%- if is_incremental() -%}
        {%- if execute -%}
            {%- set published = run_query(
                "select min(date) from ops.published_days where " ~ in_run_dates('date')
                ~ " and version = " ~ build_version()) -%}
            {%- set served = published.columns[0].values()[0] -%}
            {%- if served is not none -%}
                {{ exceptions.raise_compiler_error(
                    "version " ~ build_version_value() ~ " of " ~ served
                    ~ " is published and is never rebuilt in place: run the day again"
                    ~ " (a new run builds a new version)") }}
            {%- endif -%}
        {%- endif -%}
        alter table {{ this }} drop if exists
        {%- for day in run_dates_iso() %}
            partition (date = '{{ day }}', version = {{ build_version_value() }})
            {%- if not loop.last %},{% endif -%}
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}
