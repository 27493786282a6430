-- One row per advertiser and day it is active: a day's list may repeat an id, or come in
-- several files.
with

source as (

    select * from {{ source('logs', 'advertiser_ids') }}

),

deduplicated as (

    select distinct
        date as active_date,
        advertiser_id
    from source

)

select * from deduplicated
