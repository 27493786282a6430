{#- Models land in the schema their folder names (staging, intermediate, marts), exactly, for
    the nightly's targets: other parts of the pipeline read these names, so no target prefix is
    added. The sandbox target `dev` (profiles.yml) prefixes them with its own schema,
    dev_<user>: dev_<user>_marts and so on, never the nightly's tables. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if target.name == 'dev' -%}
        {{ dev_schema_prefix() }}{{ '_' ~ custom_schema_name | trim if custom_schema_name is not none }}
    {%- elif custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#- The dev target's schema as a safe, short PostgreSQL name: lower case, anything but letters,
    digits and underscores replaced, at most 40 characters (dev_<user>_intermediate stays within
    PostgreSQL's 63). -#}
{% macro dev_schema_prefix() -%}
    {{- return(modules.re.sub('[^a-z0-9_]', '_', target.schema | lower)[:40]) -}}
{%- endmacro %}
