{{ config(unique_key=['date', 'version', 'model'], tags=['db_writing']) }}

-- Next-day evaluation, per run date D and model: the lists of D - 1 (list_date) against D's
-- events, over all advertisers with a list. Micro averages pool the events (clicks on listed
-- products / all clicks); macro averages are the mean of the advertisers' own rates, over the
-- advertisers where that rate exists. Each figure comes with the advertisers and events behind
-- it. Both models get a row whenever D - 1 has lists; a day without them has no rows.
with

evaluated as (

    select * from {{ ref('evaluation_by_advertiser') }}
    where
        {{ in_run_dates('date') }}
        and version = {{ input_version(ref('evaluation_by_advertiser')) }}

),

list_days as (

    select distinct
        date,
        list_date,
        list_version
    from evaluated

),

models as (

    select model from {{ recommendation_models() }}

),

per_model as (

    select
        date,
        model,
        count(*) as advertisers,
        count(*) filter (where products > 0) as advertisers_with_events,
        count(*) filter (where clicks > 0) as advertisers_with_clicks,
        count(*) filter (where views > 0) as advertisers_with_views,
        count(*) filter (where impressions > 0) as advertisers_with_impressions,
        count(*) filter (where impressions_on_list > 0) as advertisers_with_listed_impressions,
        sum(clicks) as clicks,
        sum(clicks_on_list) as clicks_on_list,
        sum(views) as views,
        sum(views_on_list) as views_on_list,
        sum(impressions) as impressions,
        sum(impressions_on_list) as impressions_on_list,
        -- Expected events on a random list: each advertiser's events times its random rate.
        sum(random_hit_rate * clicks) as random_clicks,
        sum(random_hit_rate * views) as random_views,
        sum(random_hit_rate * impressions) as random_impressions,
        avg(click_hit_rate) as click_hit_rate_macro,
        avg(random_click_hit_rate) as random_click_hit_rate_macro,
        avg(view_hit_rate) as view_hit_rate_macro,
        avg(case when views > 0 then random_hit_rate end) as random_view_hit_rate_macro,
        avg(impression_hit_rate) as impression_hit_rate_macro,
        avg(case when impressions > 0 then random_hit_rate end)
            as random_impression_hit_rate_macro,
        avg(listed_ctr) as listed_ctr_macro,
        avg(all_ctr) as all_ctr_macro
    from evaluated
    group by date, model

),

final as (

    select
        list_days.date,
        {{ build_version() }} as version,
        list_days.list_date,
        list_days.list_version,
        models.model,
        coalesce(per_model.advertisers, 0) as advertisers,
        coalesce(per_model.advertisers_with_events, 0) as advertisers_with_events,
        coalesce(per_model.advertisers_with_clicks, 0) as advertisers_with_clicks,
        coalesce(per_model.advertisers_with_views, 0) as advertisers_with_views,
        coalesce(per_model.advertisers_with_impressions, 0) as advertisers_with_impressions,
        coalesce(per_model.advertisers_with_listed_impressions, 0)
            as advertisers_with_listed_impressions,
        cast(coalesce(per_model.clicks, 0) as bigint) as clicks,
        cast(coalesce(per_model.clicks_on_list, 0) as bigint) as clicks_on_list,
        cast(coalesce(per_model.views, 0) as bigint) as views,
        cast(coalesce(per_model.views_on_list, 0) as bigint) as views_on_list,
        cast(coalesce(per_model.impressions, 0) as bigint) as impressions,
        cast(coalesce(per_model.impressions_on_list, 0) as bigint) as impressions_on_list,
        -- Null, not 0, when the denominator is 0 (a day without clicks, say): see the YAML.
        cast(per_model.clicks_on_list as {{ double_type() }}) / nullif(per_model.clicks, 0)
            as click_hit_rate,
        cast(per_model.random_clicks as {{ double_type() }}) / nullif(per_model.clicks, 0)
            as random_click_hit_rate,
        cast(per_model.click_hit_rate_macro as {{ double_type() }}) as click_hit_rate_macro,
        cast(per_model.random_click_hit_rate_macro as {{ double_type() }})
            as random_click_hit_rate_macro,
        cast(per_model.views_on_list as {{ double_type() }}) / nullif(per_model.views, 0)
            as view_hit_rate,
        cast(per_model.random_views as {{ double_type() }}) / nullif(per_model.views, 0)
            as random_view_hit_rate,
        cast(per_model.view_hit_rate_macro as {{ double_type() }}) as view_hit_rate_macro,
        cast(per_model.random_view_hit_rate_macro as {{ double_type() }})
            as random_view_hit_rate_macro,
        cast(per_model.impressions_on_list as {{ double_type() }})
        / nullif(per_model.impressions, 0) as impression_hit_rate,
        cast(per_model.random_impressions as {{ double_type() }})
        / nullif(per_model.impressions, 0) as random_impression_hit_rate,
        cast(per_model.impression_hit_rate_macro as {{ double_type() }})
            as impression_hit_rate_macro,
        cast(per_model.random_impression_hit_rate_macro as {{ double_type() }})
            as random_impression_hit_rate_macro,
        cast(per_model.clicks_on_list as {{ double_type() }})
        / nullif(per_model.impressions_on_list, 0) as listed_ctr,
        cast(per_model.clicks as {{ double_type() }}) / nullif(per_model.impressions, 0)
            as all_ctr,
        cast(per_model.listed_ctr_macro as {{ double_type() }}) as listed_ctr_macro,
        cast(per_model.all_ctr_macro as {{ double_type() }}) as all_ctr_macro
    from list_days
    cross join models
    left join per_model
        on
            list_days.date = per_model.date
            and models.model = per_model.model

)

select * from final
