{{ config(
    unique_key=['date', 'advertiser_id', 'rank'],
    indexes=[{'columns': ['date']}],
) }}

-- TopCTR: each active advertiser's products with the best click-through rate in the CTR window.
-- With ctr_prior_impressions = k > 0 the rate is smoothed toward the advertiser's own CTR
-- C / I (a Beta prior worth k impressions): (clicks + k * C / I) / (impressions + k).
-- The score is kept as the exact fraction (clicks * I + k * C) / (I * (impressions + k)) and
-- ranked on its integer part scaled by 10^30, so equal rates tie exactly (1/2 = 2/4) and the
-- tie-breaks decide, whatever the counts' size.
with

event_counts as (

    select * from {{ ref('int_ad_event_counts') }}
    where run_date = {{ run_date() }}

),

advertiser_totals as (

    select
        advertiser_id,
        sum(impressions) as advertiser_impressions,
        sum(clicks) as advertiser_clicks
    from event_counts
    group by advertiser_id

),

eligible as (

    select * from event_counts
    where impressions >= {{ int_var('ctr_min_impressions', 1) }}

),

fractions as (

    select
        eligible.run_date,
        eligible.advertiser_id,
        eligible.product_id,
        eligible.impressions,
        eligible.clicks,
        eligible.clicks * advertiser_totals.advertiser_impressions
        + {{ int_var('ctr_prior_impressions', 0) }} * advertiser_totals.advertiser_clicks
            as score_numerator,
        advertiser_totals.advertiser_impressions
        * (eligible.impressions + {{ int_var('ctr_prior_impressions', 0) }})
            as score_denominator
    from eligible
    inner join advertiser_totals
        on eligible.advertiser_id = advertiser_totals.advertiser_id

),

scored as (

    select
        run_date,
        advertiser_id,
        product_id,
        impressions,
        clicks,
        cast(clicks as double precision) / impressions as ctr,
        cast(score_numerator as double precision) / score_denominator as score,
        div(score_numerator * 1e30, score_denominator) as score_key
    from fractions

),

ranked as (

    select
        *,
        row_number() over (
            partition by advertiser_id
            order by score_key desc, clicks desc, impressions desc, product_id asc
        ) as rank
    from scored

),

top_n as (

    select
        run_date as date,
        advertiser_id,
        cast(rank as integer) as rank,
        product_id,
        impressions,
        clicks,
        ctr,
        score
    from ranked
    where rank <= {{ int_var('top_n', 1) }}

)

select * from top_n
