-- The advertisers active on each run date: the filter FiltrarDatos applies to every event.
with

advertiser_days as (

    select * from {{ ref('stg_logs__advertiser_ids') }}

),

active_on_run_date as (

    select
        active_date as run_date,
        advertiser_id
    from advertiser_days
    where {{ in_run_dates('active_date') }}

)

select * from active_on_run_date
