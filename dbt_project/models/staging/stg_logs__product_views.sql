with

source as (

    select * from {{ source('logs', 'product_views') }}

),

renamed as (

    select
        date as event_date,
        advertiser_id,
        product_id,
        -- lineage: the row's file (ops.load_manifest) and line, for tracing a failing test
        object_id,
        line_number
    from source

)

select * from renamed
