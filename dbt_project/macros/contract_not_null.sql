{#- Pre-hook of the versioned marts. An incremental model's table is made once, so a column whose
    not_null constraint the contract gained later (they replaced not_null tests on PostgreSQL)
    stays nullable in a table made before: nothing would refuse a null there any more. This adds
    the missing constraints, once; after that it is one catalog lookup, and no lock is taken.
    Spark: nothing (its contracts are not enforced; its not_null tests run instead). -#}
{% macro contract_not_null() -%}
    {{ adapter.dispatch('contract_not_null', 'adtech_recs')() }}
{%- endmacro %}

{% macro default__contract_not_null() -%}
    {%- set columns = [] -%}
    {%- for column in model.columns.values() -%}
        {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
            {%- do columns.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if is_incremental() and model.config.contract.enforced and columns -%}
        do $not_null$ begin
            if exists (
                select from pg_attribute
                where attrelid = '{{ this }}'::regclass and not attnotnull
                    and attname in ({% for name in columns %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
            ) then
                alter table {{ this }}
                {%- for name in columns %}
                    alter column {{ adapter.quote(name) }} set not null{{ ',' if not loop.last }}
                {%- endfor %};
            end if;
        end $not_null$
    {%- endif -%}
{%- endmacro %}

{% macro spark__contract_not_null() -%}
{%- endmacro %}
