-- recommendation_changes has every key and count of each run date's published rows: one
-- query over the view (a not_null test per column evaluated the whole view once each).
select
    date,
    advertiser_id,
    model,
    kept,
    added,
    removed
from {{ ref('recommendation_changes') }}
where
    {{ in_run_dates('date') }}
    and (
        advertiser_id is null
        or model is null
        or kept is null
        or added is null
        or removed is null
    )
