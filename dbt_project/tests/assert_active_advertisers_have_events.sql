-- The run date has events of active advertisers: when every product view and every ad event
-- belongs to advertisers outside the active list, the logs or the list are wrong, and publishing
-- the day would replace yesterday's answers with empty ones. Fails (error) with one row.
with

filtered_events as (

    select run_date from {{ ref('int_product_view_counts') }}
    union all
    select run_date from {{ ref('int_ad_event_counts') }}

)

select {{ run_date() }} as run_date
where not exists (select 1 from filtered_events)
