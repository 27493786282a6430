{#- Spark's counterpart of macros/bootstrap.sql and of the loaders' schema (loaders/sql/
    schema.sql): the databases and tables the models read that dbt does not build. Idempotent;
    run by the on-run-start hook (macros/on_run_start.sql) and by load_raw_day.

    Same tables and columns as on PostgreSQL, as Spark tables (parquet, in the warehouse):
    - raw.<source>: the files' own columns, then the lineage object_id (the file's
      ops.load_manifest row: here a 32-bit hash of its key) and line_number (line 1 is the
      header). Partitioned by date, so a load replaces one day.
    - ops.load_manifest, ops.rejected_rows: one row per file / per rejected line, partitioned by
      (date, source). etag is null (Spark does not expose it).
    - ops.published_days: PostgreSQL's, copied before every build of the pipeline (the served
      versions that the evaluation marts, recommendation_changes and clear_build's guard read).
    Partition columns come last in a Spark table; the models select columns by name.
    Spark has no roles or grants here: the API reads PostgreSQL only. -#}
{% macro spark_bootstrap() -%}
    {%- set tables = {
        "raw.advertiser_ids": "(advertiser_id string, object_id int, line_number int, date date)"
        ~ " using parquet partitioned by (date)",
        "raw.product_views": "(advertiser_id string, product_id string, object_id int,"
        ~ " line_number int, date date) using parquet partitioned by (date)",
        "raw.ads_views": "(advertiser_id string, product_id string, type string, object_id int,"
        ~ " line_number int, date date) using parquet partitioned by (date)",
        "ops.load_manifest": "(object_id int, s3_key string, etag string, size_bytes bigint,"
        ~ " rows_loaded bigint, rows_rejected bigint, load_id string, started_at timestamp,"
        ~ " finished_at timestamp, list_date date, date date, source string)"
        ~ " using parquet partitioned by (date, source)",
        "ops.rejected_rows": "(s3_key string, line_number bigint, line string, reason string,"
        ~ " load_id string, object_id int, date date, source string)"
        ~ " using parquet partitioned by (date, source)",
        "ops.published_days": "(date date, run_id string, published_at timestamp,"
        ~ " version bigint) using parquet",
    } -%}
    {#- What exists first (three statements where there would be nine): every load and every
        build runs this, and each statement costs the Thrift Server a plan and a metastore
        round trip. -#}
    {%- set databases = run_query("show databases").columns[0].values() -%}
    {%- set existing = [] -%}
    {%- for database in ["raw", "ops", "marts"] -%}
        {%- if database not in databases -%}
            {%- do run_query("create database if not exists " ~ database) -%}
        {%- elif database != "marts" -%}
            {%- for row in run_query("show tables in " ~ database) -%}
                {%- if not row[2] -%}
                    {%- do existing.append(database ~ "." ~ row[1]) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, definition in tables.items() if name not in existing -%}
        {%- do run_query("create table if not exists " ~ name ~ " " ~ definition) -%}
    {%- endfor -%}
{%- endmacro %}
