-- Recommendations of each run date (the build under audit) exist only for advertisers active
-- on that date.
with

recommended as (

    select distinct
        date,
        advertiser_id
    from {{ ref('recommendations') }}
    where
        {{ in_run_dates('date') }}
        and version = {{ audited_version(ref('recommendations')) }}

),

active_advertisers as (

    select
        active_date,
        advertiser_id
    from {{ ref('stg_logs__advertiser_ids') }}
    where {{ in_run_dates('active_date') }}

)

select
    recommended.date,
    recommended.advertiser_id
from recommended
left join active_advertisers
    on
        recommended.date = active_advertisers.active_date
        and recommended.advertiser_id = active_advertisers.advertiser_id
where active_advertisers.advertiser_id is null
