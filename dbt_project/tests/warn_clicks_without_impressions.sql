-- Data quality, warn level: products of active advertisers clicked in the CTR window without
-- a single impression. They stay in the counts and TopCTR's eligibility rule leaves them out,
-- but the ad network's log should not contain them.
select
    advertiser_id,
    product_id,
    impressions,
    clicks
from {{ ref('int_ad_event_counts') }}
where impressions = 0 and clicks > 0
