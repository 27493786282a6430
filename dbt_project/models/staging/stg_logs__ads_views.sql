with

source as (

    select * from {{ source('logs', 'ads_views') }}

),

renamed as (

    select
        date as event_date,
        advertiser_id,
        product_id,
        type as event_type
    from source

)

select * from renamed
