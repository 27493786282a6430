-- Every run date has recommendations. When every event belongs to advertisers outside the
-- active list (or no active advertiser has a ranked product), the logs or the list are wrong,
-- and publishing the day would replace yesterday's answers with empty ones. Fails (error) with
-- one row per such day. Its only parent is `recommendations`, so every runner attaches it to
-- that model (buildable selection).
with

run_dates as (

    {{ run_dates_rows() }}

),

dates_with_rows as (

    select distinct date from {{ ref('recommendations') }}
    where
        {{ in_run_dates('date') }}
        and version = {{ audited_version(ref('recommendations')) }}

)

select run_dates.run_date
from run_dates
left join dates_with_rows
    on run_dates.run_date = dates_with_rows.date
where dates_with_rows.date is null
