{{ config(
    unique_key=['date', 'advertiser_id', 'model', 'rank'],
    indexes=[{'columns': ['advertiser_id', 'date']}],
) }}

-- What the API serves: both models' lists in one table, one row per date, advertiser, model
-- and rank. The primary key (date, advertiser_id, model, rank) is the index behind the API's
-- lookup; (advertiser_id, date) serves an advertiser's history.
with

top_ctr as (

    select * from {{ ref('top_ctr') }}
    where date = {{ run_date() }}

),

top_product as (

    select * from {{ ref('top_product') }}
    where date = {{ run_date() }}

),

unioned as (

    select
        date,
        advertiser_id,
        cast('top_ctr' as text) as model,
        rank,
        product_id,
        score,
        cast(null as bigint) as views,
        impressions,
        clicks
    from top_ctr

    union all

    select
        date,
        advertiser_id,
        cast('top_product' as text) as model,
        rank,
        product_id,
        cast(views as double precision) as score,
        views,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks
    from top_product

)

select * from unioned
