{{ config(
    unique_key=['date', 'version', 'advertiser_id', 'model'],
    tags=['db_writing'],
) }}
{%- set window_days = int_var('ctr_window_days', 1) | trim | int %}
-- depends_on: {{ ref('stg_logs__ads_views') }}, {{ ref('int_active_advertisers') }}

-- Next-day evaluation, per advertiser: the build of run date D measures the lists of D - 1
-- (list_date) against D's events, as FiltrarDatos counts them (the advertisers active on D).
-- The lists are D - 1's served ones: this build's own version when D - 1 is in the build's range
-- (a backfill publishes its days with it), else the version ops.published_days names for D - 1.
-- A run date whose previous day has no list (the first day, an unpublished day) gets no rows.
with

run_dates as (

    {{ run_dates_rows() }}

),

published_days as (

    select
        date,
        version
    from {{ ref('stg_ops__published_days') }}

),

list_days as (

    select
        run_date as date,
        {{ add_days('run_date', -1) }} as list_date
    from run_dates

),

list_versions as (

    select
        list_days.date,
        list_days.list_date,
        case
            when list_days.list_date >= {{ run_date() }} then {{ build_version() }}
            else published_days.version
        end as list_version
    from list_days
    left join published_days
        on list_days.list_date = published_days.date

),

recommendations as (

    select * from {{ ref('recommendations') }}
    where date between {{ add_days(run_date(), -1) }} and {{ add_days(run_date_end(), -1) }}

),

listed_products as (

    select
        list_versions.date,
        list_versions.list_date,
        list_versions.list_version,
        recommendations.advertiser_id,
        recommendations.model,
        recommendations.product_id
    from list_versions
    inner join recommendations
        on
            list_versions.list_date = recommendations.date
            and list_versions.list_version = recommendations.version

),

lists as (

    select
        date,
        list_date,
        list_version,
        advertiser_id,
        model,
        count(*) as list_length
    from listed_products
    group by date, list_date, list_version, advertiser_id, model

),

view_counts as (

    select * from {{ run_input(ref('int_product_view_counts')) }}

),

-- D's own impressions and clicks. FiltrarDatos counts them over the CTR window; with the
-- default one-day window that is D alone. A longer window sums earlier days in, so D's events
-- are counted here from staging with FiltrarDatos' rule (advertisers active on D).
ad_counts as (

    {% if window_days == 1 %}
        select * from {{ run_input(ref('int_ad_event_counts')) }}
    {% else %}
        select
            ad_events.event_date as run_date,
            ad_events.advertiser_id,
            ad_events.product_id,
            count(*) filter (where ad_events.event_type = 'impression') as impressions,
            count(*) filter (where ad_events.event_type = 'click') as clicks
        from {{ ref('stg_logs__ads_views') }} as ad_events
        inner join {{ ref('int_active_advertisers') }} as active_advertisers
            on
                ad_events.event_date = active_advertisers.run_date
                and ad_events.advertiser_id = active_advertisers.advertiser_id
        where {{ in_run_dates('ad_events.event_date') }}
        group by ad_events.event_date, ad_events.advertiser_id, ad_events.product_id
    {% endif %}

),

-- Every product with an event on D, any kind: products first seen on D included.
next_day as (

    select
        coalesce(view_counts.run_date, ad_counts.run_date) as date,
        coalesce(view_counts.advertiser_id, ad_counts.advertiser_id) as advertiser_id,
        coalesce(view_counts.product_id, ad_counts.product_id) as product_id,
        coalesce(view_counts.views, 0) as views,
        coalesce(ad_counts.impressions, 0) as impressions,
        coalesce(ad_counts.clicks, 0) as clicks
    from view_counts
    full outer join ad_counts
        on
            view_counts.run_date = ad_counts.run_date
            and view_counts.advertiser_id = ad_counts.advertiser_id
            and view_counts.product_id = ad_counts.product_id

),

advertiser_totals as (

    select
        date,
        advertiser_id,
        count(*) as products,
        sum(views) as views,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from next_day
    group by date, advertiser_id

),

on_lists as (

    select
        listed_products.date,
        listed_products.advertiser_id,
        listed_products.model,
        sum(next_day.views) as views_on_list,
        sum(next_day.impressions) as impressions_on_list,
        sum(next_day.clicks) as clicks_on_list
    from listed_products
    inner join next_day
        on
            listed_products.date = next_day.date
            and listed_products.advertiser_id = next_day.advertiser_id
            and listed_products.product_id = next_day.product_id
    group by listed_products.date, listed_products.advertiser_id, listed_products.model

),

counted as (

    select
        lists.date,
        lists.list_date,
        lists.list_version,
        lists.advertiser_id,
        lists.model,
        lists.list_length,
        cast(coalesce(advertiser_totals.products, 0) as bigint) as products,
        cast(coalesce(advertiser_totals.views, 0) as bigint) as views,
        cast(coalesce(advertiser_totals.impressions, 0) as bigint) as impressions,
        cast(coalesce(advertiser_totals.clicks, 0) as bigint) as clicks,
        cast(coalesce(on_lists.views_on_list, 0) as bigint) as views_on_list,
        cast(coalesce(on_lists.impressions_on_list, 0) as bigint) as impressions_on_list,
        cast(coalesce(on_lists.clicks_on_list, 0) as bigint) as clicks_on_list
    from lists
    left join advertiser_totals
        on
            lists.date = advertiser_totals.date
            and lists.advertiser_id = advertiser_totals.advertiser_id
    left join on_lists
        on
            lists.date = on_lists.date
            and lists.advertiser_id = on_lists.advertiser_id
            and lists.model = on_lists.model

),

-- Rates are null where their denominator is 0 (no clicks on D, say): a share of nothing is not
-- a number, and a 0 would read as a model that missed every click.
-- The random reference: top_n products drawn at random, without replacement, from the
-- advertiser's `products` with events on D. Each of them is drawn with probability
-- min(top_n, products) / products, so that is the expected share of every kind of event.
final as (

    select
        date,
        {{ build_version() }} as version,
        list_date,
        list_version,
        advertiser_id,
        model,
        list_length,
        products,
        views,
        impressions,
        clicks,
        views_on_list,
        impressions_on_list,
        clicks_on_list,
        cast(clicks_on_list as {{ double_type() }}) / nullif(clicks, 0) as click_hit_rate,
        cast(views_on_list as {{ double_type() }}) / nullif(views, 0) as view_hit_rate,
        cast(impressions_on_list as {{ double_type() }}) / nullif(impressions, 0)
            as impression_hit_rate,
        cast(clicks_on_list as {{ double_type() }}) / nullif(impressions_on_list, 0)
            as listed_ctr,
        cast(clicks as {{ double_type() }}) / nullif(impressions, 0) as all_ctr,
        cast(least({{ int_var('top_n', 1) }}, products) as {{ double_type() }})
        / nullif(products, 0) as random_hit_rate,
        case
            when clicks > 0
                then
                    cast(least({{ int_var('top_n', 1) }}, products) as {{ double_type() }})
                    / nullif(products, 0)
        end as random_click_hit_rate
    from counted

)

select * from final
