{%- set window_days = int_var('ctr_window_days', 1) | trim | int -%}

-- FiltrarDatos for ad events: impressions and clicks of advertisers active on each run date,
-- over its CTR window [run_date - ctr_window_days + 1, run_date], counted per product.
-- Clicks on products without impressions stay in the counts; TopCTR's eligibility rule
-- excludes them and a warn-level test reports them.
-- Counted per day first, then the active advertisers' counts kept, as in
-- int_product_view_counts (and for the same reason: the planner's estimates).
with

active_advertisers as (

    select * from {{ run_input(ref('int_active_advertisers')) }}

),

ad_events as (

    select * from {{ ref('stg_logs__ads_views') }}
    where
        event_date > {{ run_date() }} - {{ window_days }}
        and event_date <= {{ run_date_end() }}

),

daily_counts as (

    select
        event_date,
        advertiser_id,
        product_id,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'click') as clicks
    from ad_events
    group by event_date, advertiser_id, product_id

),

-- A day's counts count toward the run dates whose window holds it: its own day and the
-- ctr_window_days - 1 days after. One copy per window day keeps the join below an equi-join
-- (a hash join on day and advertiser), where a range condition would compare every count
-- with every run date of a backfill.
windowed as (

    {% for offset in range(window_days) %}
        select
            {{ add_days('event_date', offset) }} as run_date,
            advertiser_id,
            product_id,
            impressions,
            clicks
        from daily_counts
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

counts_of_active_advertisers as (

    select
        windowed.run_date,
        windowed.advertiser_id,
        windowed.product_id,
        cast(sum(windowed.impressions) as bigint) as impressions,
        cast(sum(windowed.clicks) as bigint) as clicks
    from windowed
    inner join active_advertisers
        on
            windowed.run_date = active_advertisers.run_date
            and windowed.advertiser_id = active_advertisers.advertiser_id
    group by windowed.run_date, windowed.advertiser_id, windowed.product_id

)

select * from counts_of_active_advertisers
