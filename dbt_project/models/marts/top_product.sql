{{ config(
    unique_key=['date', 'version', 'advertiser_id', 'rank'],
    indexes=[{'columns': ['date', 'version']}],
) }}

-- TopProduct: per run date, each active advertiser's most viewed products that day.
with

view_counts as (

    select * from {{ run_input(ref('int_product_view_counts')) }}
    where {{ in_run_dates('run_date') }}

),

ranked as (

    select
        run_date as date,
        advertiser_id,
        product_id,
        views,
        row_number() over (
            partition by run_date, advertiser_id
            order by views desc, product_id asc
        ) as rank
    from view_counts

),

top_n as (

    select
        date,
        {{ build_version() }} as version,
        advertiser_id,
        cast(rank as integer) as rank,
        product_id,
        views
    from ranked
    where rank <= {{ int_var('top_n', 1) }}

)

select * from top_n
