{{ config(unique_key=['date', 'version', 'advertiser_id']) }}

{%- set lists_version = input_version(ref('recommendations')) %}

-- Per run date and advertiser active that day: how much the TopCTR and TopProduct lists agree.
with

active_advertisers as (

    select * from {{ run_input(ref('int_active_advertisers')) }}

),

top_ctr as (

    select
        date,
        advertiser_id,
        product_id
    from {{ ref('recommendations') }}
    where {{ in_run_dates('date') }} and version = {{ lists_version }} and model = 'top_ctr'

),

top_product as (

    select
        date,
        advertiser_id,
        product_id
    from {{ ref('recommendations') }}
    where {{ in_run_dates('date') }} and version = {{ lists_version }} and model = 'top_product'

),

both_lists as (

    select
        top_ctr.product_id as top_ctr_product_id,
        top_product.product_id as top_product_product_id,
        coalesce(top_ctr.date, top_product.date) as date,
        coalesce(top_ctr.advertiser_id, top_product.advertiser_id) as advertiser_id
    from top_ctr
    full outer join top_product
        on
            top_ctr.date = top_product.date
            and top_ctr.advertiser_id = top_product.advertiser_id
            and top_ctr.product_id = top_product.product_id

),

counted as (

    select
        date,
        advertiser_id,
        count(top_ctr_product_id) as top_ctr_count,
        count(top_product_product_id) as top_product_count,
        count(*) filter (
            where top_ctr_product_id is not null and top_product_product_id is not null
        ) as overlap
    from both_lists
    group by date, advertiser_id

),

final as (

    select
        active_advertisers.run_date as date,
        {{ build_version() }} as version,
        active_advertisers.advertiser_id,
        coalesce(counted.top_ctr_count, 0) as top_ctr_count,
        coalesce(counted.top_product_count, 0) as top_product_count,
        coalesce(counted.overlap, 0) as overlap,
        -- |A and B| / |A or B|; null when both lists are empty.
        cast(counted.overlap as {{ double_type() }})
        / nullif(counted.top_ctr_count + counted.top_product_count - counted.overlap, 0)
            as jaccard
    from active_advertisers
    left join counted
        on
            active_advertisers.run_date = counted.date
            and active_advertisers.advertiser_id = counted.advertiser_id

)

select * from final
