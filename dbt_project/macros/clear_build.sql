{#- Pre-hook of the versioned marts: remove the rows this build already wrote for the run date
    (a retried task), before delete+insert writes them again. Other versions of the day, the
    served one above all, are never touched: publication switches the API to the new version and
    drops superseded ones afterwards (pipeline/publication.py). A build that names the served
    version itself (a task of an already published run, cleared and run again) stops here:
    rebuilding it in place would change answers while the API serves them. -#}
{% macro clear_build() -%}
    {%- if is_incremental() -%}
        do $guard$ begin
            if exists (
                select from ops.published_days
                where date = {{ run_date() }} and version = {{ build_version() }}
            ) then
                raise exception 'version % of % is published and is never rebuilt in place: run the day again (a new run builds a new version)',
                    {{ build_version() }}, {{ run_date() }};
            end if;
        end $guard$;
        delete from {{ this }} where date = {{ run_date() }} and version = {{ build_version() }}
    {%- endif -%}
{%- endmacro %}
