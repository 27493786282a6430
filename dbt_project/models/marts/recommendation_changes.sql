-- Per published date, active advertiser and model: how the served list changed since the
-- latest earlier published date that has a list for that advertiser and model (previous_date;
-- null when there is none, and then every product counts as added). A view over the versions
-- ops.published_days points at: it always describes what the API serves, a rebuild in progress
-- never shows in it, and a backfilled day becomes the later days' previous list as soon as it
-- is published.
with

published_days as (

    select
        date,
        version
    from {{ ref('stg_ops__published_days') }}

),

served_advertisers as (

    select
        model_agreement.date,
        model_agreement.advertiser_id
    from {{ ref('model_agreement') }} as model_agreement
    inner join published_days
        on
            model_agreement.date = published_days.date
            and model_agreement.version = published_days.version

),

history as (

    select
        recommendations.date,
        recommendations.advertiser_id,
        recommendations.model,
        recommendations.product_id
    from {{ ref('recommendations') }} as recommendations
    inner join published_days
        on
            recommendations.date = published_days.date
            and recommendations.version = published_days.version

),

models as (

    select model from {{ recommendation_models() }}

),

targets as (

    select
        served_advertisers.date,
        served_advertisers.advertiser_id,
        models.model
    from served_advertisers
    cross join models

),

-- Each target's previous date: the latest earlier date with a list of the same advertiser and
-- model. A running max over the dates of targets and lists together, in date order: linear in
-- the history (a join of every target with every earlier list grew with the square of the days
-- served).
list_days as (

    select distinct
        date,
        advertiser_id,
        model
    from history

),

timeline as (

    select
        list_days.date as list_date,
        coalesce(targets.date, list_days.date) as date,
        coalesce(targets.advertiser_id, list_days.advertiser_id) as advertiser_id,
        coalesce(targets.model, list_days.model) as model
    from targets
    full outer join list_days
        on
            targets.date = list_days.date
            and targets.advertiser_id = list_days.advertiser_id
            and targets.model = list_days.model

),

previous_dates as (

    select
        date,
        advertiser_id,
        model,
        max(list_date) over (
            partition by advertiser_id, model
            order by date
            rows between unbounded preceding and 1 preceding
        ) as previous_date
    from timeline

),

current_lists as (

    select
        targets.date,
        targets.advertiser_id,
        targets.model,
        history.product_id
    from targets
    inner join history
        on
            targets.date = history.date
            and targets.advertiser_id = history.advertiser_id
            and targets.model = history.model

),

previous_lists as (

    select
        previous_dates.date,
        previous_dates.advertiser_id,
        previous_dates.model,
        history.product_id
    from previous_dates
    inner join history
        on
            previous_dates.previous_date = history.date
            and previous_dates.advertiser_id = history.advertiser_id
            and previous_dates.model = history.model

),

both_lists as (

    select
        current_lists.product_id as current_product_id,
        previous_lists.product_id as previous_product_id,
        coalesce(current_lists.date, previous_lists.date) as date,
        coalesce(current_lists.advertiser_id, previous_lists.advertiser_id) as advertiser_id,
        coalesce(current_lists.model, previous_lists.model) as model
    from current_lists
    full outer join previous_lists
        on
            current_lists.date = previous_lists.date
            and current_lists.advertiser_id = previous_lists.advertiser_id
            and current_lists.model = previous_lists.model
            and current_lists.product_id = previous_lists.product_id

),

compared as (

    select
        date,
        advertiser_id,
        model,
        count(*) filter (
            where current_product_id is not null and previous_product_id is not null
        ) as kept,
        count(*) filter (where previous_product_id is null) as added,
        count(*) filter (where current_product_id is null) as removed
    from both_lists
    group by date, advertiser_id, model

),

final as (

    select
        targets.date,
        targets.advertiser_id,
        targets.model,
        previous_dates.previous_date,
        coalesce(compared.kept, 0) as kept,
        coalesce(compared.added, 0) as added,
        coalesce(compared.removed, 0) as removed,
        case
            when previous_dates.previous_date is not null
                then
                    cast(compared.kept as {{ double_type() }})
                    / nullif(compared.kept + compared.added + compared.removed, 0)
        end as jaccard_with_previous
    from targets
    left join previous_dates
        on
            targets.date = previous_dates.date
            and targets.advertiser_id = previous_dates.advertiser_id
            and targets.model = previous_dates.model
    left join compared
        on
            targets.date = compared.date
            and targets.advertiser_id = compared.advertiser_id
            and targets.model = compared.model

)

select * from final
