-- Tables the loaders own. Idempotent: safe to run before every load.
-- Concurrent loads run this at once: the advisory lock keeps CREATE ... IF NOT EXISTS from
-- racing. Nothing here locks an existing table (no CREATE INDEX IF NOT EXISTS, which would wait
-- for every running load's transaction), so it never serializes loads.
select pg_advisory_xact_lock(hashtext('adtech.loaders.schema'));

create schema if not exists raw;
create schema if not exists ops;

-- One partition per day, swapped in whole by each load (loaders/partitions.py).
create table if not exists raw.advertiser_ids (
    date date not null,
    advertiser_id text not null,
    s3_key text not null,
    load_id text not null
) partition by list (date);

create table if not exists raw.product_views (
    advertiser_id text not null,
    product_id text not null,
    date date not null,
    s3_key text not null,
    load_id text not null
) partition by list (date);

create table if not exists raw.ads_views (
    advertiser_id text not null,
    product_id text not null,
    type text not null,
    date date not null,
    s3_key text not null,
    load_id text not null
) partition by list (date);

create table if not exists ops.load_manifest (
    date date not null,
    source text not null,
    s3_key text not null,
    etag text,
    size_bytes bigint,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    load_id text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    primary key (date, source, s3_key)
);

create table if not exists ops.rejected_rows (
    date date not null,
    source text not null,
    s3_key text not null,
    line_number bigint not null,
    line text,
    reason text not null,
    load_id text not null,
    primary key (date, source, s3_key, line_number)
);
