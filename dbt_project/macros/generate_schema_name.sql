{#- Models land in the schema their folder names (staging, intermediate, marts), exactly:
    other parts of the pipeline read these names, so no target prefix is added. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
