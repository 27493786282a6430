{{ config(unique_key=['date', 'version', 'model']) }}

-- Per run date and model: how many active advertisers got a list, and how long the lists are.
with

active_advertisers as (

    select * from {{ ref('int_active_advertisers') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}
    where date = {{ run_date() }} and version = {{ build_version() }}

),

models as (

    select model from {{ recommendation_models() }}

),

active_count as (

    select count(*) as active_advertisers from active_advertisers

),

list_lengths as (

    select
        model,
        advertiser_id,
        count(*) as list_length
    from recommendations
    group by model, advertiser_id

),

per_model as (

    select
        models.model,
        count(list_lengths.advertiser_id) as advertisers_with_recommendations,
        avg(list_lengths.list_length) as avg_list_length
    from models
    left join list_lengths
        on models.model = list_lengths.model
    group by models.model

),

final as (

    select
        {{ run_date() }} as date,
        {{ build_version() }} as version,
        per_model.model,
        active_count.active_advertisers,
        per_model.advertisers_with_recommendations,
        -- 0, not null, on a day without active advertisers or lists: the API reads plain numbers.
        coalesce(
            cast(per_model.advertisers_with_recommendations as {{ double_type() }})
            / nullif(active_count.active_advertisers, 0),
            0
        ) as coverage,
        coalesce(cast(per_model.avg_list_length as {{ double_type() }}), 0) as avg_list_length
    from per_model
    cross join active_count

)

select * from final
