-- FiltrarDatos for product views: the run date's views of active advertisers, counted per
-- product (the only use of single views downstream is counting them).
with

active_advertisers as (

    select * from {{ ref('int_active_advertisers') }}

),

product_views as (

    select * from {{ ref('stg_logs__product_views') }}
    where event_date = {{ run_date() }}

),

views_of_active_advertisers as (

    select
        product_views.advertiser_id,
        product_views.product_id
    from product_views
    inner join active_advertisers
        on product_views.advertiser_id = active_advertisers.advertiser_id

),

counted as (

    select
        {{ run_date() }} as run_date,
        advertiser_id,
        product_id,
        count(*) as views
    from views_of_active_advertisers
    group by advertiser_id, product_id

)

select * from counted
