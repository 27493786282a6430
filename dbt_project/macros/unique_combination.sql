{#- Primary-key test: no two rows share the same values in `columns` (dbt ships only the
    single-column `unique`; dbt packages are not reachable here). -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
