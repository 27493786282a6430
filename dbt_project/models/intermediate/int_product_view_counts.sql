-- FiltrarDatos for product views: each run date's views of advertisers active that day,
-- counted per product (the only use of single views downstream is counting them).
with

active_advertisers as (

    select * from {{ ref('int_active_advertisers') }}

),

product_views as (

    select * from {{ ref('stg_logs__product_views') }}
    where {{ in_run_dates('event_date') }}

),

views_of_active_advertisers as (

    select
        product_views.event_date as run_date,
        product_views.advertiser_id,
        product_views.product_id
    from product_views
    inner join active_advertisers
        on
            product_views.event_date = active_advertisers.run_date
            and product_views.advertiser_id = active_advertisers.advertiser_id

),

counted as (

    select
        run_date,
        advertiser_id,
        product_id,
        count(*) as views
    from views_of_active_advertisers
    group by run_date, advertiser_id, product_id

)

select * from counted
