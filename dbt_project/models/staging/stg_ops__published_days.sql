-- Ephemeral: inlined into the views that read it. A view here would be rebuilt by every run,
-- and PostgreSQL drops a rebuilt view's dependants with it (dbt swaps views and drops the old one
-- with cascade): recommendation_changes would vanish until DBWriting rebuilt it, and for good on
-- a run that fails before.
{{ config(materialized='ephemeral') }}

with

source as (

    select * from {{ source('ops', 'published_days') }}

),

renamed as (

    select
        date,
        version,
        run_id,
        published_at
    from source

)

select * from renamed
