-- The run date has recommendations. When every event belongs to advertisers outside the active
-- list (or no active advertiser has a ranked product), the logs or the list are wrong, and
-- publishing the day would replace yesterday's answers with empty ones. Fails (error) with one
-- row. Its only parent is `recommendations`, so every runner attaches it to that model: plain
-- `dbt build`, `adtech run` and the DAG's per-model Cosmos tasks (buildable selection).
with

run_date_rows as (

    select date from {{ ref('recommendations') }}
    where date = {{ run_date() }} and version = {{ audited_version(ref('recommendations')) }}

)

select {{ run_date() }} as run_date
where not exists (select 1 from run_date_rows)
