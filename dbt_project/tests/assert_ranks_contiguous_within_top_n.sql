-- Every list of the run date ranks 1, 2, ..., n with no gap or repeat, and n <= top_n.
with

lists as (

    select
        advertiser_id,
        model,
        count(*) as list_length,
        count(distinct rank) as distinct_ranks,
        min(rank) as first_rank,
        max(rank) as last_rank
    from {{ ref('recommendations') }}
    where date = {{ run_date() }} and version = {{ audited_version(ref('recommendations')) }}
    group by advertiser_id, model

)

select * from lists
where
    first_rank <> 1
    or last_rank <> list_length
    or distinct_ranks <> list_length
    or list_length > {{ int_var('top_n', 1) }}
