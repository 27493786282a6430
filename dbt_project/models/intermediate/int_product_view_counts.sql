-- FiltrarDatos for product views: each run date's views of advertisers active that day,
-- counted per product (the only use of single views downstream is counting them).
-- Counting first, then keeping the active advertisers' counts, gives the same rows as
-- filtering the views first; but the planner sizes a count of the raw day's rows from its
-- statistics, where it underestimates a join of each view with the day's advertisers by 40x
-- and then sorts all the views on disk (docs/BENCHMARKS.md).
with

active_advertisers as (

    select * from {{ run_input(ref('int_active_advertisers')) }}

),

product_views as (

    select * from {{ ref('stg_logs__product_views') }}
    where {{ in_run_dates('event_date') }}

),

counted as (

    select
        event_date as run_date,
        advertiser_id,
        product_id,
        count(*) as views
    from product_views
    group by event_date, advertiser_id, product_id

),

counts_of_active_advertisers as (

    select counted.*
    from counted
    inner join active_advertisers
        on
            counted.run_date = active_advertisers.run_date
            and counted.advertiser_id = active_advertisers.advertiser_id

)

select * from counts_of_active_advertisers
