{#- One model for one day, right or refused. A model reads other models' per-run rows: the
    intermediate tables hold only the days of the build that made them last, and a versioned mart
    holds one version per build. When the upstream model is built by the same invocation (the
    nightly's one build, `dbt build -s +my_model`), the model reads what that build writes. When it
    is not (`dbt build -s model_coverage`, or an orchestrator running one model per task), the
    model reads what an earlier build left, after checking it is there for every run date:
      run_input(ref('int_...'))       an intermediate table must hold the run dates;
      input_version(ref('a_mart'))    the version of a versioned mart to read: this build's when
                                      the mart is built here or the version was given (pipeline,
                                      --vars build_version), else the latest one built for the
                                      run dates.
    Otherwise the model stops with a message naming the model to build first, never reading
    another day's rows or a version nobody built (which gave silent zeros). Checked only by
    `dbt build` and `dbt run` (compile and docs show the SQL of a build of everything). -#}

{#- True when `relation` (a model of this project) needs no check: this invocation builds it,
    or nothing runs (parsing, compile, docs), or a unit test's fixture stands for it. -#}
{% macro built_here(relation) -%}
    {{- return(
        not execute
        or flags.WHICH not in ('build', 'run')
        or model.resource_type == 'unit_test'
        or ('model.adtech_recs.' ~ relation.identifier) in selected_resources
    ) -}}
{%- endmacro %}

{% macro run_input(relation, date_column='run_date') -%}
    {%- if not built_here(relation) -%}
        {%- do _require_relation(relation) -%}
        {%- set held = run_query(
            'select count(distinct ' ~ date_column ~ ') from ' ~ relation
            ~ ' where ' ~ in_run_dates(date_column)).columns[0].values()[0] -%}
        {%- if held < run_dates_iso() | length -%}
            {%- do _refuse(relation, 'holds another day (intermediate tables hold the last build'
                ~ "'s days only)") -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro input_version(relation) -%}
    {%- if built_here(relation) -%}
        {{- return(build_version()) -}}
    {%- endif -%}
    {%- do _require_relation(relation) -%}
    {%- set given = _run_setting('build_version', 'ADTECH_BUILD_VERSION') -%}
    {%- set found = run_query(
        'select version from ' ~ relation ~ ' where ' ~ in_run_dates('date')
        ~ (' and version = ' ~ build_version() if given is not none else '')
        ~ ' group by version having count(distinct date) = ' ~ (run_dates_iso() | length)
        ~ ' order by version desc limit 1').columns[0].values() -%}
    {%- if not found -%}
        {%- do _refuse(relation, 'has no rows for them'
            ~ (' at version ' ~ given ~ ' (this build\'s)' if given is not none else '')) -%}
    {%- endif -%}
    {%- do log(model.name ~ ': reads ' ~ relation.identifier ~ ' at version ' ~ found[0]
        ~ ', the latest built for ' ~ _run_span() ~ ' (not rebuilt by this selection)',
        info=given is none) -%}
    {{- return(found[0]) -}}
{%- endmacro %}

{% macro _run_span() -%}
    {%- set days = run_dates_iso() -%}
    {{- return(days[0] if days | length == 1 else days[0] ~ '..' ~ days[-1]) -}}
{%- endmacro %}

{% macro _require_relation(relation) -%}
    {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {%- do _refuse(relation, 'does not exist yet') -%}
    {%- endif -%}
{%- endmacro %}

{% macro _refuse(relation, problem) -%}
    {{ exceptions.raise_compiler_error(
        model.name ~ " reads " ~ relation ~ " for " ~ _run_span() ~ ", which this selection"
        ~ " does not build and which " ~ problem ~ ": build " ~ relation.identifier
        ~ " for that day first, or both together: dbt build -s +" ~ model.name
        ~ " --vars '{run_date: " ~ run_dates_iso()[0] ~ "}'") }}
{%- endmacro %}
