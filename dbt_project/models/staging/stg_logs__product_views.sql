with

source as (

    select * from {{ source('logs', 'product_views') }}

),

renamed as (

    select
        date as event_date,
        advertiser_id,
        product_id
    from source

)

select * from renamed
