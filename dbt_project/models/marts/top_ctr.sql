{{ config(
    unique_key=['date', 'advertiser_id', 'rank'],
    indexes=[{'columns': ['date']}],
) }}

-- TopCTR: each active advertiser's products with the best click-through rate in the CTR window.
-- With ctr_prior_impressions = k > 0 the rate is smoothed toward the advertiser's own CTR
-- (a Beta prior worth k impressions): (clicks + k * advertiser_ctr) / (impressions + k).
with

event_counts as (

    select * from {{ ref('int_ad_event_counts') }}
    where run_date = {{ run_date() }}

),

advertiser_rates as (

    select
        advertiser_id,
        cast(sum(clicks) as numeric) / nullif(sum(impressions), 0) as advertiser_ctr
    from event_counts
    group by advertiser_id

),

eligible as (

    select * from event_counts
    where impressions >= {{ int_var('ctr_min_impressions', 1) }}

),

scored as (

    select
        eligible.run_date,
        eligible.advertiser_id,
        eligible.product_id,
        eligible.impressions,
        eligible.clicks,
        cast(eligible.clicks as numeric) / eligible.impressions as ctr,
        (
            eligible.clicks
            + {{ int_var('ctr_prior_impressions', 0) }}
            * coalesce(advertiser_rates.advertiser_ctr, 0)
        )
        / (eligible.impressions + {{ int_var('ctr_prior_impressions', 0) }}) as score
    from eligible
    inner join advertiser_rates
        on eligible.advertiser_id = advertiser_rates.advertiser_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by advertiser_id
            order by score desc, clicks desc, impressions desc, product_id asc
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
        cast(ctr as double precision) as ctr,
        cast(score as double precision) as score
    from ranked
    where rank <= {{ int_var('top_n', 1) }}

)

select * from top_n
