-- Tables the loaders own. Idempotent: safe to run before every load.
create schema if not exists raw;
create schema if not exists ops;

create table if not exists raw.advertiser_ids (
    date date not null,
    advertiser_id text not null,
    s3_key text not null,
    load_id text not null
);
create index if not exists advertiser_ids_date_idx on raw.advertiser_ids (date);

create table if not exists raw.product_views (
    advertiser_id text not null,
    product_id text not null,
    date date not null,
    s3_key text not null,
    load_id text not null
);
create index if not exists product_views_date_idx on raw.product_views (date);

create table if not exists raw.ads_views (
    advertiser_id text not null,
    product_id text not null,
    type text not null,
    date date not null,
    s3_key text not null,
    load_id text not null
);
create index if not exists ads_views_date_idx on raw.ads_views (date);

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
    load_id text not null
);
create index if not exists rejected_rows_date_source_idx on ops.rejected_rows (date, source);
