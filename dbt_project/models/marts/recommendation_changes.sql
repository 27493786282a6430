{{ config(unique_key=['date', 'advertiser_id', 'model']) }}

-- Per run date, active advertiser and model: how the list changed since the latest earlier
-- date that has a list for that advertiser and model (previous_date; null when there is none,
-- and then every product counts as added).
with

active_advertisers as (

    select * from {{ ref('int_active_advertisers') }}

),

models as (

    select model from {{ recommendation_models() }}

),

history as (

    select * from {{ ref('recommendations') }}
    where date <= {{ run_date() }}

),

current_lists as (

    select
        advertiser_id,
        model,
        product_id
    from history
    where date = {{ run_date() }}

),

previous_dates as (

    select
        advertiser_id,
        model,
        max(date) as previous_date
    from history
    where date < {{ run_date() }}
    group by advertiser_id, model

),

previous_lists as (

    select
        history.advertiser_id,
        history.model,
        history.product_id
    from history
    inner join previous_dates
        on
            history.advertiser_id = previous_dates.advertiser_id
            and history.model = previous_dates.model
            and history.date = previous_dates.previous_date

),

both_lists as (

    select
        current_lists.product_id as current_product_id,
        previous_lists.product_id as previous_product_id,
        coalesce(current_lists.advertiser_id, previous_lists.advertiser_id) as advertiser_id,
        coalesce(current_lists.model, previous_lists.model) as model
    from current_lists
    full outer join previous_lists
        on
            current_lists.advertiser_id = previous_lists.advertiser_id
            and current_lists.model = previous_lists.model
            and current_lists.product_id = previous_lists.product_id

),

compared as (

    select
        advertiser_id,
        model,
        count(*) filter (
            where current_product_id is not null and previous_product_id is not null
        ) as kept,
        count(*) filter (where previous_product_id is null) as added,
        count(*) filter (where current_product_id is null) as removed
    from both_lists
    group by advertiser_id, model

),

final as (

    select
        active_advertisers.run_date as date,
        active_advertisers.advertiser_id,
        models.model,
        previous_dates.previous_date,
        coalesce(compared.kept, 0) as kept,
        coalesce(compared.added, 0) as added,
        coalesce(compared.removed, 0) as removed,
        case
            when previous_dates.previous_date is not null
                then
                    cast(compared.kept as double precision)
                    / nullif(compared.kept + compared.added + compared.removed, 0)
        end as jaccard_with_previous
    from active_advertisers
    cross join models
    left join previous_dates
        on
            active_advertisers.advertiser_id = previous_dates.advertiser_id
            and models.model = previous_dates.model
    left join compared
        on
            active_advertisers.advertiser_id = compared.advertiser_id
            and models.model = compared.model

)

select * from final
