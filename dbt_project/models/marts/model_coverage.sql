{{ config(unique_key=['date', 'version', 'model']) }}

-- Per run date and model: how many active advertisers got a list, and how long the lists are.
with

active_advertisers as (

    select * from {{ run_input(ref('int_active_advertisers')) }}

),

recommendations as (

    select * from {{ ref('recommendations') }}
    where
        {{ in_run_dates('date') }}
        and version = {{ input_version(ref('recommendations')) }}

),

models as (

    select model from {{ recommendation_models() }}

),

run_dates as (

    {{ run_dates_rows() }}

),

active_counts as (

    select
        run_date,
        count(*) as active_advertisers
    from active_advertisers
    group by run_date

),

list_lengths as (

    select
        date,
        model,
        advertiser_id,
        count(*) as list_length
    from recommendations
    group by date, model, advertiser_id

),

-- Every run date with every model, so a day or a model without lists still gets a row.
dates_and_models as (

    select
        run_dates.run_date as date,
        models.model,
        coalesce(active_counts.active_advertisers, 0) as active_advertisers
    from run_dates
    left join active_counts
        on run_dates.run_date = active_counts.run_date
    cross join models

),

per_model as (

    select
        dates_and_models.date,
        dates_and_models.model,
        dates_and_models.active_advertisers,
        count(list_lengths.advertiser_id) as advertisers_with_recommendations,
        avg(list_lengths.list_length) as avg_list_length
    from dates_and_models
    left join list_lengths
        on
            dates_and_models.date = list_lengths.date
            and dates_and_models.model = list_lengths.model
    group by dates_and_models.date, dates_and_models.model, dates_and_models.active_advertisers

),

final as (

    select
        date,
        {{ build_version() }} as version,
        model,
        active_advertisers,
        advertisers_with_recommendations,
        -- 0, not null, on a day without active advertisers or lists: the API reads plain numbers.
        coalesce(
            cast(advertisers_with_recommendations as {{ double_type() }})
            / nullif(active_advertisers, 0),
            0
        ) as coverage,
        coalesce(cast(avg_list_length as {{ double_type() }}), 0) as avg_list_length
    from per_model

)

select * from final
