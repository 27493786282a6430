{#- a / b where b is never 0 by the model's own filter. Spark, in ANSI mode (its default over
    thrift), may still evaluate the division before the filter: constant folding does so on a
    unit test's literal rows, and raises DIVIDE_BY_ZERO. There it is try_divide (null on 0);
    PostgreSQL keeps the plain division. -#}
{% macro safe_divide(numerator, denominator) -%}
    {{- return(adapter.dispatch('safe_divide', 'adtech_recs')(numerator, denominator)) -}}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    {{- return(numerator ~ ' / ' ~ denominator) -}}
{%- endmacro %}

{% macro spark__safe_divide(numerator, denominator) -%}
    {{- return('try_divide(' ~ numerator ~ ', ' ~ denominator ~ ')') -}}
{%- endmacro %}
