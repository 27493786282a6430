{{ config(
    unique_key=['date', 'version', 'advertiser_id', 'rank'],
    indexes=[{'columns': ['date', 'version']}],
) }}

{%- set prior = int_var('ctr_prior_impressions', 0) | trim | int -%}

-- TopCTR: per run date, each active advertiser's products with the best click-through rate in
-- the CTR window.
-- The rate is a double: IEEE division is correctly rounded, so equal fractions (1/2, 2/4) get
-- equal scores and the tie-breaks decide (exact for counts below about 10^7).
-- With ctr_prior_impressions = k > 0 it is smoothed toward the advertiser's own CTR over the
-- window (a Beta prior worth k impressions): (clicks + k * advertiser_ctr) / (impressions + k).
with

event_counts as (

    select * from {{ run_input(ref('int_ad_event_counts')) }}
    where {{ in_run_dates('run_date') }}

),

eligible as (

    select
        run_date,
        advertiser_id,
        product_id,
        impressions,
        clicks,
        {{ safe_divide('cast(clicks as ' ~ double_type() ~ ')', 'impressions') }} as ctr
    from event_counts
    where impressions >= {{ int_var('ctr_min_impressions', 1) }}

),

{% if prior > 0 -%}
-- Defined only when a prior is set: a second reference to event_counts, even from an unused
-- CTE, makes PostgreSQL materialize it (1.8 M rows written to disk: top_ctr 9.7 s -> 4.1 s).
advertiser_rates as (

    select
        run_date,
        advertiser_id,
        cast(sum(clicks) as {{ double_type() }}) / nullif(sum(impressions), 0) as advertiser_ctr
    from event_counts
    group by run_date, advertiser_id

),
{%- endif %}

scored as (

    select
        eligible.run_date,
        eligible.advertiser_id,
        eligible.product_id,
        eligible.impressions,
        eligible.clicks,
        eligible.ctr,
        {% if prior > 0 -%}
            (eligible.clicks + {{ prior }} * advertiser_rates.advertiser_ctr)
            / (eligible.impressions + {{ prior }})
        {%- else -%}
            eligible.ctr
        {%- endif %} as score
    from eligible
    {% if prior > 0 -%}
        inner join advertiser_rates
            on
                eligible.run_date = advertiser_rates.run_date
                and eligible.advertiser_id = advertiser_rates.advertiser_id
    {%- endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by run_date, advertiser_id
            order by score desc, clicks desc, impressions desc, product_id asc
        ) as rank
    from scored

),

top_n as (

    select
        run_date as date,
        {{ build_version() }} as version,
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
