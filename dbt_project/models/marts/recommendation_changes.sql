{{ config(unique_key=['date', 'advertiser_id', 'model']) }}

-- Per date, active advertiser and model: how the list changed since the latest earlier date
-- that has a list for that advertiser and model (previous_date; null when there is none, and
-- then every product counts as added). A run writes its run date's rows and refreshes the rows
-- of any later date already built: when an earlier day is rebuilt (a backfill), it may be the
-- later days' previous list.
with

run_date_advertisers as (

    select
        run_date as date,
        advertiser_id
    from {{ ref('int_active_advertisers') }}

),

-- The run date's active advertisers, and on an incremental run those of every later date
-- already built (the dates whose previous list this run may change).
advertiser_dates as (

    select * from run_date_advertisers
    {% if is_incremental() -%}
        union all
        select distinct
            date,
            advertiser_id
        from {{ this }}
        where date > {{ run_date() }}
    {%- endif %}

),

models as (

    select model from {{ recommendation_models() }}

),

targets as (

    select
        advertiser_dates.date,
        advertiser_dates.advertiser_id,
        models.model
    from advertiser_dates
    cross join models

),

history as (

    select
        date,
        advertiser_id,
        model,
        product_id
    from {{ ref('recommendations') }}

),

previous_dates as (

    select
        targets.date,
        targets.advertiser_id,
        targets.model,
        max(history.date) as previous_date
    from targets
    inner join history
        on
            targets.advertiser_id = history.advertiser_id
            and targets.model = history.model
            and targets.date > history.date
    group by targets.date, targets.advertiser_id, targets.model

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
                    cast(compared.kept as double precision)
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
