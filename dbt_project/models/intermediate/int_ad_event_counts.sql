-- FiltrarDatos for ad events: impressions and clicks of advertisers active on the run date,
-- over the CTR window [run_date - ctr_window_days + 1, run_date], counted per product.
-- Clicks on products without impressions stay in the counts; TopCTR's eligibility rule
-- excludes them and a warn-level test reports them.
with

active_advertisers as (

    select * from {{ ref('int_active_advertisers') }}

),

ad_events as (

    select * from {{ ref('stg_logs__ads_views') }}
    where
        event_date > {{ run_date() }} - {{ int_var('ctr_window_days', 1) }}
        and event_date <= {{ run_date() }}

),

events_of_active_advertisers as (

    select
        ad_events.advertiser_id,
        ad_events.product_id,
        ad_events.event_type
    from ad_events
    inner join active_advertisers
        on ad_events.advertiser_id = active_advertisers.advertiser_id

),

counted as (

    select
        {{ run_date() }} as run_date,
        advertiser_id,
        product_id,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'click') as clicks
    from events_of_active_advertisers
    group by advertiser_id, product_id

)

select * from counted
