-- What the pipeline itself owns: run bookkeeping, published days, and the API's read-only role.
-- Idempotent; run before every pipeline run.
-- The loaders create schema ops too (loaders/sql/schema.sql, same lock): on a brand-new database
-- the two could otherwise race on the catalog.
select pg_advisory_xact_lock(hashtext('adtech.loaders.schema'));
create schema if not exists ops;
create schema if not exists marts;

create table if not exists ops.pipeline_runs (
    run_id text primary key,
    date date not null,
    status text not null check (status in ('running', 'success', 'failed')),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    steps jsonb not null default '[]'::jsonb,
    error text
);
create index if not exists pipeline_runs_date_idx on ops.pipeline_runs (date);

create table if not exists ops.published_days (
    date date primary key,
    run_id text not null,
    published_at timestamptz not null default now()
);

-- Roles are cluster-wide and several databases may bootstrap at once: tolerate the race.
do $$
begin
    create role adtech_api login;
exception when duplicate_object or unique_violation then null;
end
$$;

grant usage on schema marts to adtech_api;
grant select on all tables in schema marts to adtech_api;
alter default privileges in schema marts grant select on tables to adtech_api;
grant usage on schema ops to adtech_api;
grant select on ops.published_days to adtech_api;
