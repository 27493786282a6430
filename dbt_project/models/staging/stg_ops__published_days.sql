with

source as (

    select * from {{ source('ops', 'published_days') }}

),

renamed as (

    select
        date,
        version,
        run_id,
        published_at
    from source

)

select * from renamed
