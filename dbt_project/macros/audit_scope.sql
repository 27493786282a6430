{#- Generic tests see only the rows of the run they audit. dbt renders a test's `where` config
    when it parses the project, before any run date is known, so `where` strings name these
    placeholders and they are filled in at execution time (dbt's documented override of
    get_where_subquery):
      __run_date__         the run date (the first day)  (macros/vars.sql: run_date)
      __run_date_end__     the run's last day            (macros/vars.sql: run_date_end)
      __audited_version__  the version under audit       (macros/vars.sql: audited_version)
    The versioned marts set `date between __run_date__ and __run_date_end__ and version =
    __audited_version__` for all their tests in dbt_project.yml. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- if '__run_date_end__' in where -%}
            {%- set where = where | replace('__run_date_end__', run_date_end()) -%}
        {%- endif -%}
        {%- if '__run_date__' in where -%}
            {%- set where = where | replace('__run_date__', run_date()) -%}
        {%- endif -%}
        {%- if '__audited_version__' in where -%}
            {%- set where = where | replace('__audited_version__', audited_version(relation)) -%}
        {%- endif -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
