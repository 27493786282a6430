{#- What the project owns outside dbt's models: run bookkeeping, the published days, and the
    read-only role the API connects as (the marts' grantee). One idempotent statement, run by
    dbt's on-run-start hook (so a plain `dbt build` on a brand-new database works) and, rendered
    with plain Jinja, by the pipeline before every run (pipeline/steps/bootstrap.py). Keep it plain
    Jinja: no dbt functions.

    In production the role may be provisioned elsewhere: it is created only when missing and when
    the connected user may create roles; otherwise a notice says so and the grants still apply.

    Write-audit-publish: the versioned marts hold every build of a day (column `version`);
    ops.published_days points each published day at the version the API serves. -#}
{% macro adtech_bootstrap(api_role='adtech_api') -%}
do $bootstrap$
begin
    -- The loaders create schema ops too (same lock): on a brand-new database the two could race.
    perform pg_advisory_xact_lock(hashtext('adtech.loaders.schema'));
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
    alter table ops.pipeline_runs add column if not exists version bigint;
    create index if not exists pipeline_runs_date_idx on ops.pipeline_runs (date);

    create table if not exists ops.published_days (
        date date primary key,
        run_id text not null,
        published_at timestamptz not null default now()
    );
    alter table ops.published_days add column if not exists version bigint;

    if not exists (select from pg_roles where rolname = '{{ api_role }}') then
        begin
            create role "{{ api_role | replace('"', '""') }}" login;
        exception
            -- Several databases may bootstrap at once (roles are cluster-wide).
            when duplicate_object or unique_violation then null;
            when insufficient_privilege then
                raise notice 'role % does not exist and this user may not create it: '
                    'grants to it will fail until it is provisioned', '{{ api_role }}';
        end;
    end if;

    if exists (select from pg_roles where rolname = '{{ api_role }}') then
        grant usage on schema marts to "{{ api_role | replace('"', '""') }}";
        grant select on all tables in schema marts to "{{ api_role | replace('"', '""') }}";
        alter default privileges in schema marts
            grant select on tables to "{{ api_role | replace('"', '""') }}";
        grant usage on schema ops to "{{ api_role | replace('"', '""') }}";
        grant select on ops.published_days to "{{ api_role | replace('"', '""') }}";
    end if;
end
$bootstrap$
{%- endmacro %}
