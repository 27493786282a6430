-- Recommendations of the run date (the build under audit) exist only for advertisers active
-- on that date.
with

recommended as (

    select distinct advertiser_id
    from {{ ref('recommendations') }}
    where date = {{ run_date() }} and version = {{ audited_version(ref('recommendations')) }}

),

active_advertisers as (

    select advertiser_id
    from {{ ref('stg_logs__advertiser_ids') }}
    where active_date = {{ run_date() }}

)

select recommended.advertiser_id
from recommended
left join active_advertisers
    on recommended.advertiser_id = active_advertisers.advertiser_id
where active_advertisers.advertiser_id is null
