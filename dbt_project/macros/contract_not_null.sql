{#- Pre-hook of the versioned marts. An incremental model's table is made once, so a column whose
    not_null constraint the contract gained later (they replaced not_null tests on PostgreSQL)
    stays nullable in a table made before: nothing would refuse a null there any more. This adds
    the missing constraints, once; after that it is one catalog lookup, and no lock is taken.
    Spark: nothing (its tables hold no constraints: check_not_null, below, stands in). -#}
{% macro contract_not_null() -%}
    {{ adapter.dispatch('contract_not_null', 'adtech_recs')() }}
{%- endmacro %}

{% macro default__contract_not_null() -%}
    {%- set columns = _not_null_columns() -%}
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

{#- Post-hook of the contracted models (intermediate and marts): Spark's stand-in for the
    not-null constraints PostgreSQL's tables enforce. Spark's parquet tables cannot hold them, so
    once the model has written, one query looks for a null in any not-null column of the rows it
    wrote (`where`: the versioned marts' run dates and build version) and fails the model, naming
    the columns: the build stops in that model, as on PostgreSQL, and the day is not published.
    (One query per model instead of a not_null test per column: a test is a node, and each node
    costs the Thrift Server a session of its own.)
    PostgreSQL: nothing (the table refused the row already). -#}
{% macro check_not_null(where=none) -%}
    {{ adapter.dispatch('check_not_null', 'adtech_recs')(where) }}
{%- endmacro %}

{% macro default__check_not_null(where) -%}
{%- endmacro %}

{% macro spark__check_not_null(where) -%}
    {%- set columns = _not_null_columns() -%}
    {%- if columns -%}
        {{ assert_no_nulls(this, columns, where) }}
    {%- endif -%}
{%- endmacro %}

{#- One statement that fails when a row of `relation` (within `where`) holds a null in one of
    `columns`, naming the relation and those columns. One pass, a conditional count per column:
    a filter `a is null or b is null or ...` over many columns sends Spark's optimizer into
    minutes of constraint propagation. Spark SQL. -#}
{% macro assert_no_nulls(relation, columns, where=none) -%}
    select raise_error(concat('{{ relation }}: nulls in not-null columns: ', null_columns))
    from (
        select concat_ws(', '
            {%- for column in columns %},
            if(count_if({{ adapter.quote(column) }} is null) > 0,
                concat('{{ column }} (', count_if({{ adapter.quote(column) }} is null), ' rows)'), null)
            {%- endfor %}) as null_columns
        from {{ relation }}
        {%- if where %}
        where {{ where }}
        {%- endif %}
    ) nulls
    where null_columns != ''
{%- endmacro %}

{#- The model's columns whose contract declares a not_null constraint. -#}
{% macro _not_null_columns() -%}
    {%- set columns = [] -%}
    {%- for column in model.columns.values() -%}
        {%- if column.constraints | selectattr('type', 'equalto', 'not_null') | list -%}
            {%- do columns.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(columns) -}}
{%- endmacro %}
