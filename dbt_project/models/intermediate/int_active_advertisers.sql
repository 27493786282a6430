-- The advertisers active on the run date: the filter FiltrarDatos applies to every event.
with

advertiser_days as (

    select * from {{ ref('stg_logs__advertiser_ids') }}

),

active_on_run_date as (

    select
        active_date as run_date,
        advertiser_id
    from advertiser_days
    where active_date = {{ run_date() }}

)

select * from active_on_run_date
