{#- The run's settings, checked once here so that a missing or malformed var fails with a clear
    message instead of a SQL error deep inside a model. Checks run only at execution time:
    `dbt parse` and `dbt docs generate` must work without vars. -#}

{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if execute -%}
        {%- if value is none or value | string | trim == '' -%}
            {{ exceptions.raise_compiler_error(
                "var 'run_date' is required: pass --vars '{run_date: YYYY-MM-DD}'") }}
        {%- endif -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string | trim) -%}
            {{ exceptions.raise_compiler_error(
                "var 'run_date' must be an ISO date YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
    {%- endif -%}
    cast('{{ value | string | trim }}' as date)
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
