{#- Spark's counterpart of macros/bootstrap.sql and of the loaders' schema (loaders/sql/
    schema.sql): the databases and tables the models read that dbt does not build. Idempotent;
    run by the on-run-start hook (macros/on_run_start.sql) and by load_raw_day.

    Same tables and columns as on PostgreSQL, as Spark tables (parquet, in the warehouse):
    - raw.<source>: the files' own columns, then the lineage object_id (the file's
      ops.load_manifest row: here a 32-bit hash of its key) and line_number (line 1 is the
      header). Partitioned by date, so a load replaces one day.
    - ops.load_manifest, ops.rejected_rows: one row per file / per rejected line, partitioned by
      (date, source). etag is null (Spark does not expose it).
    - ops.published_days: read by the marts' clear_build guard and recommendation_changes.
    Partition columns come last in a Spark table; the models select columns by name.
    Spark has no roles or grants here: the API reads PostgreSQL only. -#}
{% macro spark_bootstrap() -%}
    {%- set statements = [
        "create database if not exists raw",
        "create database if not exists ops",
        "create database if not exists marts",
        "create table if not exists raw.advertiser_ids (advertiser_id string, object_id int,"
        ~ " line_number int, date date) using parquet partitioned by (date)",
        "create table if not exists raw.product_views (advertiser_id string, product_id string,"
        ~ " object_id int, line_number int, date date) using parquet partitioned by (date)",
        "create table if not exists raw.ads_views (advertiser_id string, product_id string,"
        ~ " type string, object_id int, line_number int, date date)"
        ~ " using parquet partitioned by (date)",
        "create table if not exists ops.load_manifest (object_id int, s3_key string,"
        ~ " etag string, size_bytes bigint, rows_loaded bigint, rows_rejected bigint,"
        ~ " load_id string, started_at timestamp, finished_at timestamp, list_date date,"
        ~ " date date, source string) using parquet partitioned by (date, source)",
        "create table if not exists ops.rejected_rows (s3_key string, line_number bigint,"
        ~ " line string, reason string, load_id string, object_id int, date date,"
        ~ " source string) using parquet partitioned by (date, source)",
        "create table if not exists ops.published_days (date date, run_id string,"
        ~ " published_at timestamp, version bigint) using parquet",
    ] -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
{%- endmacro %}
