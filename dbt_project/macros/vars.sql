{#- The run's settings, checked once here so that a missing or malformed value fails with a clear
    message instead of a SQL error deep inside a model. Checks run only at execution time:
    `dbt parse` and `dbt docs generate` must work without them.

    The run date and the build version come from `--vars` (what people type) or, when no var is
    given, from the environment (ADTECH_RUN_DATE, ADTECH_BUILD_VERSION: what the pipeline sets).
    The environment is read only at execution time: a var that changes every night forces dbt to
    parse the whole project again, an environment variable read outside parsing does not. -#}

{% macro _run_setting(var_name, env_name) -%}
    {%- set value = var(var_name, none) -%}
    {%- if (value is none or value | string | trim == '') and execute -%}
        {%- set value = env_var(env_name, '') -%}
    {%- endif -%}
    {{- return(none if value is none or value | string | trim == '' else value | string | trim) -}}
{%- endmacro %}

{% macro run_date() -%}
    cast('{{ run_date_iso() }}' as date)
{%- endmacro %}

{#- The run date as a bare 'YYYY-MM-DD' string: --vars, else ADTECH_RUN_DATE, else, for a plain
    command with neither, a default day (default_run_date). Checked here once for every caller. -#}
{% macro run_date_iso() -%}
    {%- set value = _run_setting('run_date', 'ADTECH_RUN_DATE') -%}
    {%- if not execute -%}
        {{- return(value) -}}  {#- parsing: the day is read at execution only -#}
    {%- endif -%}
    {%- if value is none -%}
        {%- set value = default_run_date() -%}
    {%- endif -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error(
            "var 'run_date' must be an ISO date YYYY-MM-DD, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{#- The day of a plain command given no run date (no --vars, no ADTECH_RUN_DATE):
      `dbt test`                    the latest published day (audited at its served version:
                                    audited_version), what the API answers from;
      `dbt build`, `run`, `compile` the latest loaded day (ops.load_manifest), what an analyst
                                    just loaded;
      `dbt docs generate`           the same, or a placeholder day on a database with none (the
                                    docs show the SQL, not a day's data).
    Otherwise the command stops with one line saying what to pass. The on-run-start hook says
    which day was taken (macros/on_run_start.sql: announce_run_date). -#}
{% macro default_run_date() -%}
    {%- set published = flags.WHICH == 'test' -%}
    {%- set day = latest_ops_day('published_days' if published else 'load_manifest') -%}
    {%- if day is none and flags.WHICH == 'generate' -%}
        {%- set day = '1970-01-01' -%}
    {%- endif -%}
    {%- if day is none -%}
        {{ exceptions.raise_compiler_error(
            "no run date: pass --vars '{run_date: YYYY-MM-DD}' (or set ADTECH_RUN_DATE); "
            ~ ("`dbt test` without one audits the latest published day, and none is published"
               if published else "without one dbt builds the latest loaded day, and none is"
               ~ " loaded (adtech load --date D)")) }}
    {%- endif -%}
    {{- return(day) -}}
{%- endmacro %}

{#- max(date) of an ops table ('YYYY-MM-DD'), or none when it is empty or does not exist. -#}
{% macro latest_ops_day(table) -%}
    {%- set relation = adapter.get_relation(database=target.database, schema='ops', identifier=table) -%}
    {%- if relation is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set value = run_query('select max(date) from ' ~ relation).columns[0].values()[0] -%}
    {{- return(none if value is none else value | string) -}}
{%- endmacro %}

{#- True when this invocation took its run date from default_run_date. -#}
{% macro run_date_is_default() -%}
    {{- return(execute and _run_setting('run_date', 'ADTECH_RUN_DATE') is none) -}}
{%- endmacro %}

{#- The last day of the run: a run builds every day from run_date to run_date_end (a backfill's
    range, in one invocation); without run_date_end, the run date alone. -#}
{% macro run_date_end() -%}
    {%- set value = _run_date_end_setting() -%}
    {%- if value is none -%}
        {{- return(run_date()) -}}
    {%- endif -%}
    {%- if execute -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
            {{ exceptions.raise_compiler_error(
                "var 'run_date_end' must be an ISO date YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
        {%- if value < run_date_iso() -%}
            {{ exceptions.raise_compiler_error(
                "var 'run_date_end' (" ~ value ~ ") is before run_date (" ~ run_date_iso() ~ ")") }}
        {%- endif -%}
    {%- endif -%}
    {{- return("cast('" ~ value ~ "' as date)") -}}
{%- endmacro %}

{#- run_date_end from where run_date came: a run date typed in --vars never pairs with an
    ADTECH_RUN_DATE_END left in the environment. -#}
{% macro _run_date_end_setting() -%}
    {%- if var('run_date', none) is not none and var('run_date_end', none) is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(_run_setting('run_date_end', 'ADTECH_RUN_DATE_END')) -}}
{%- endmacro %}

{#- The run's days as a condition on a date column: `column between run_date and run_date_end`. -#}
{% macro in_run_dates(column) -%}
    {{ column }} between {{ run_date() }} and {{ run_date_end() }}
{%- endmacro %}

{#- The run's days as 'YYYY-MM-DD' strings, in order (for tests that need each day by name). -#}
{% macro run_dates_iso() -%}
    {%- if not execute -%}
        {{- return([]) -}}  {#- parsing: no run yet -#}
    {%- endif -%}
    {%- set first = modules.datetime.date.fromisoformat(run_date_iso()) -%}
    {%- set last_value = _run_date_end_setting() -%}
    {%- set checked = run_date_end() -%}
    {%- set last = first if last_value is none else modules.datetime.date.fromisoformat(last_value) -%}
    {%- set days = [] -%}
    {%- for offset in range((last - first).days + 1) -%}
        {%- do days.append((first + modules.datetime.timedelta(days=offset)).isoformat()) -%}
    {%- endfor -%}
    {{- return(days) -}}
{%- endmacro %}

{#- The version this invocation writes into the versioned marts (write-audit-publish: a rebuild
    of a day is written beside the served version, which ops.published_days points at). The
    pipeline passes one per run; a plain `dbt build` gets one from its start time, so each build
    is a new, later version and never touches the served rows. Versions are microseconds since
    the epoch: later builds have larger versions. -#}
{% macro build_version() -%}
    cast({{ build_version_value() }} as bigint)
{%- endmacro %}

{#- The build version as a bare number (Spark's partition specs take literals only). -#}
{% macro build_version_value() -%}
    {%- set value = _run_setting('build_version', 'ADTECH_BUILD_VERSION') -%}
    {%- if value is none -%}
        {%- set value = (run_started_at.timestamp() * 1000000) | int -%}
    {%- elif execute and not modules.re.fullmatch('[0-9]+', value | string) -%}
        {{ exceptions.raise_compiler_error(
            "var 'build_version' must be a whole number, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{- return(value | string) -}}
{%- endmacro %}

{#- The version a test audits: the one this invocation builds (`dbt build`, the pipeline), or,
    for a plain `dbt test` with no version given, the latest one built for the run date; with no
    run date either, the version the API serves for the latest published day (ops.published_days,
    named as a table: a test's `where` is rendered at execution, where a source() would not be
    a dependency). -#}
{% macro audited_version(relation) -%}
    {%- if _run_setting('build_version', 'ADTECH_BUILD_VERSION') is none
        and flags.WHICH == 'test' -%}
        {%- if run_date_is_default() -%}
            (select version from ops.published_days where date = {{ run_date() }})
        {%- else -%}
            (select max(version) from {{ relation }} where {{ in_run_dates('date') }})
        {%- endif -%}
    {%- else -%}
        {{ build_version() }}
    {%- endif -%}
{%- endmacro %}

{#- A whole-number var no smaller than `minimum` (top_n, ctr_* settings). -#}
{% macro int_var(name, minimum) -%}
    {%- set value = var(name) | string | trim -%}
    {%- if execute and not (modules.re.fullmatch('[0-9]+', value) and value | int >= minimum) -%}
        {{ exceptions.raise_compiler_error(
            "var '" ~ name ~ "' must be a whole number >= " ~ minimum ~ ", got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ value | int }}
{%- endmacro %}

{#- The run's days as rows (column run_date), for a model or test that needs a row per day even
    when the day has no data. -#}
{% macro run_dates_rows() -%}
    {%- if not execute %}
    select cast(null as date) as run_date
    {%- endif -%}
    {%- for day in run_dates_iso() %}
    select cast('{{ day }}' as date) as run_date
    {%- if not loop.last %} union all{% endif -%}
    {%- endfor %}
{%- endmacro %}

{#- Source freshness of the run's days (sources `logs`: loaded_at_query): when the stalest of
    them finished loading `source` (its last file, ops.load_manifest), or null when any of them
    has no loaded row. -#}
{% macro loaded_day_query(source) -%}
    select case when count(*) = {{ run_dates_iso() | length }} then min(loaded_at) end
    from (
        select date, max(finished_at) as loaded_at
        from ops.load_manifest
        where source = '{{ source }}' and {{ in_run_dates('date') }}
        group by date
        having sum(rows_loaded) > 0
    ) as loaded_days
{%- endmacro %}
