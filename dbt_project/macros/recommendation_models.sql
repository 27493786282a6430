{#- The models marts.recommendations holds, as a one-column relation `model`: every stats mart
    reports each of them, including on days when one produced no list. -#}
{% macro recommendation_models() -%}
    (values ('top_ctr'), ('top_product')) as recommendation_models (model)
{%- endmacro %}
