with

source as (

    select * from {{ source('logs', 'ads_views') }}

),

renamed as (

    select
        date as event_date,
        advertiser_id,
        product_id,
        type as event_type,
        -- lineage: the row's file (ops.load_manifest) and line, for tracing a failing test
        object_id,
        line_number
    from source

)

select * from renamed
