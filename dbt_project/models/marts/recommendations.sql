{{ config(
    unique_key=['date', 'version', 'advertiser_id', 'model', 'rank'],
    indexes=[{'columns': ['advertiser_id', 'date']}],
) }}

-- What the API serves: both models' lists in one table, one row per date, version, advertiser,
-- model and rank. The API reads the version ops.published_days points at; the primary key
-- (date, version, advertiser_id, model, rank) is the index behind its lookup, and
-- (advertiser_id, date) serves an advertiser's history.
with

top_ctr as (

    select * from {{ ref('top_ctr') }}
    where {{ in_run_dates('date') }} and version = {{ input_version(ref('top_ctr')) }}

),

top_product as (

    select * from {{ ref('top_product') }}
    where {{ in_run_dates('date') }} and version = {{ input_version(ref('top_product')) }}

),

unioned as (

    select
        date,
        {{ build_version() }} as version,
        advertiser_id,
        cast('top_ctr' as {{ text_type() }}) as model,
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
        {{ build_version() }} as version,
        advertiser_id,
        cast('top_product' as {{ text_type() }}) as model,
        rank,
        product_id,
        cast(views as {{ double_type() }}) as score,
        views,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks
    from top_product

)

select * from unioned
