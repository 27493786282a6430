{#- Pre-hook of the incremental marts: remove the run date's rows before delete+insert writes
    them again. delete+insert alone deletes only the keys present in the new batch, so a day
    rebuilt with fewer advertisers (or none) would keep stale rows. Runs in the model's
    transaction, so readers never see the day half-written. -#}
{% macro clear_run_date() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where date = {{ run_date() }}
    {%- endif -%}
{%- endmacro %}
