-- Every list of each run date ranks 1, 2, ..., n with no gap or repeat, and n <= top_n.
with

lists as (

    select
        date,
        advertiser_id,
        model,
        count(*) as list_length,
        count(distinct rank) as distinct_ranks,
        min(rank) as first_rank,
        max(rank) as last_rank
    from {{ ref('recommendations') }}
    where
        {{ in_run_dates('date') }}
        and version = {{ audited_version(ref('recommendations')) }}
    group by date, advertiser_id, model

)

select * from lists
where
    first_rank <> 1
    or last_rank <> list_length
    or distinct_ranks <> list_length
    or list_length > {{ int_var('top_n', 1) }}
