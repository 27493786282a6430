{#- The Spark target's load: fill raw.<source>'s partition of day `date` straight from the day's
    files in the S3 layout, with the PostgreSQL loaders' rules (loaders/checks.py), so that the
    models read the same rows on either engine.

        dbt run-operation load_raw_day --target spark \
            --args '{source: ads_views, date: 2024-11-20}'

    Where the files are: `<root>/<prefix><source>/date=YYYY-MM-DD/` (any number of files, gzip
    when named *.gz, a header line, LF or CRLF). `root` (arg, else ADTECH_SPARK_RAW_ROOT, else
    s3a://$ADTECH_S3_BUCKET) is what Spark reads: s3a://bucket in production, file:///folder in
    tests; `prefix` (arg, else ADTECH_S3_PREFIX, default raw/) as the loaders use it.

    What holds, as with the loaders (loaders/README.md):
    - every data line is judged with loaders/checks.py's rules, in its order: line_too_long,
      invalid_encoding, quoted_field, wrong_field_count, empty_id, invalid_type,
      unparsable_date, date_outside_partition. A rejected line is kept with its reason in
      ops.rejected_rows; each file gets its row in ops.load_manifest (rows_loaded,
      rows_rejected): the counts PostgreSQL's loaders record for the same files.
    - more than ADTECH_MAX_REJECT_FRACTION (default 0.01) of the day's lines rejected: the load
      fails and nothing is written. A file whose first line is not the header fails the load.
    - advertiser_ids: the day's own list, else the most recent earlier date= partition (a
      warning), else the load fails.
    - a rerun replaces the day's partition of raw.<source>, ops.load_manifest and
      ops.rejected_rows (idempotent). Spark has no transactions: a failure while writing them
      leaves them for the rerun to replace. Loads of different sources or days may run at the
      same time (each writes through a staging folder of its own).
    - a rejected line is stored as the loaders store it: an invalid_encoding line (invalid
      UTF-8 or a NUL byte) in PostgreSQL's bytea escape format (decode(line, 'escape') gives
      its bytes back), an overlong one truncated with invalid bytes as U+FFFD, any other as is.
    - gzip by the bytes, not the name: Spark's reader goes by the .gz suffix, so the pipeline
      (pipeline/spark/objects.py), when an object is misnamed (gzip without .gz, plain
      with it), first copies the day's objects under right names into a staging folder and
      passes `staged_location`, `staged_names` ({copy: original name}) and `staged_date`;
      the copies are read in place of the day's folder, under the originals' keys. Run by hand without them, a gzip object not named *.gz fails the
      load with a message saying so.
    What differs: object_id is a 32-bit hash of the file's key (no sequence on Spark); etag is
    null; Spark skips files whose names start with `_` or `.`, and empty (0-byte) files (the
    loaders reject an empty file for its missing header).
    Returns (and logs as one JSON line) {source, date, list_date, files, rows_loaded,
    rows_rejected}. -#}
{% macro load_raw_day(source, date, root=none, prefix=none, max_reject_fraction=none,
        staged_location=none, staged_names=none, staged_date=none) -%}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error(
            "load_raw_day is the spark target's load; on PostgreSQL run the loaders (adtech load)") }}
    {%- endif -%}
    {%- set fields_of = {
        'advertiser_ids': [('advertiser_id', 'id')],
        'product_views': [('advertiser_id', 'id'), ('product_id', 'id'), ('date', 'date')],
        'ads_views': [
            ('advertiser_id', 'id'), ('product_id', 'id'), ('type', 'type'), ('date', 'date')],
    } -%}
    {%- if source not in fields_of -%}
        {{ exceptions.raise_compiler_error(
            "unknown source '" ~ source ~ "'; expected one of " ~ fields_of.keys() | join(', ')) }}
    {%- endif -%}
    {%- set day = date | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day) -%}
        {{ exceptions.raise_compiler_error("date must be YYYY-MM-DD, got '" ~ day ~ "'") }}
    {%- endif -%}
    {%- set fields = fields_of[source] -%}
    {%- set root = root or env_var('ADTECH_SPARK_RAW_ROOT', '') -%}
    {%- if not root -%}
        {%- if not env_var('ADTECH_S3_BUCKET', '') -%}
            {{ exceptions.raise_compiler_error(
                "load_raw_day needs a root: ADTECH_SPARK_RAW_ROOT (s3a://bucket, file:///dir)"
                ~ " or ADTECH_S3_BUCKET") }}
        {%- endif -%}
        {%- set root = 's3a://' ~ env_var('ADTECH_S3_BUCKET') -%}
    {%- endif -%}
    {%- set prefix = (prefix if prefix is not none else env_var('ADTECH_S3_PREFIX', 'raw/')) | trim -%}
    {%- set prefix = prefix.lstrip('/') -%}
    {%- set prefix = prefix if prefix == '' or prefix.endswith('/') else prefix ~ '/' -%}
    {%- set max_fraction = (max_reject_fraction if max_reject_fraction is not none
        else env_var('ADTECH_MAX_REJECT_FRACTION', '0.01')) | float -%}
    {%- set header = fields | map(attribute=0) | join(',') -%}
    {%- set base = root.rstrip('/') ~ '/' ~ prefix ~ source ~ '/' -%}
    {%- set load_id = (invocation_id | replace('-', ''))[:16] -%}
    {%- set started_at = modules.datetime.datetime.utcnow().isoformat(sep=' ') -%}
    {%- set suffix = source ~ '_' ~ day | replace('-', '_') -%}

    {%- do spark_bootstrap() -%}

    {#- The list of the day, else the most recent earlier one (a partition with files). -#}
    {%- set list_day = day -%}
    {%- if source == 'advertiser_ids' -%}
        {%- do run_query(
            "create or replace temporary view adtech_list_days_" ~ suffix
            ~ " using binaryFile options (path '" ~ base ~ "')") -%}
        {%- set found = run_query(
            "select cast(max(date) as string) from adtech_list_days_" ~ suffix
            ~ " where date <= cast('" ~ day ~ "' as date)").columns[0].values()[0] -%}
        {%- if found is none -%}
            {{ exceptions.raise_compiler_error(
                "advertiser_ids " ~ day ~ ": no objects under " ~ base ~ "date=" ~ day
                ~ "/ (nor in any earlier date= partition)") }}
        {%- endif -%}
        {%- set list_day = found -%}
        {%- if list_day != day -%}
            {{ log("advertiser_ids: no list for " ~ day ~ "; applying the list of " ~ list_day,
                info=True) }}
        {%- endif -%}
    {%- endif -%}
    {%- set location = base ~ 'date=' ~ list_day ~ '/' -%}
    {%- set staged = staged_names or {} -%}
    {%- if staged and (staged_date | string) != list_day -%}
        {{ exceptions.raise_compiler_error(
            "load_raw_day: staged copies are of date=" ~ staged_date ~ ", the load reads date="
            ~ list_day) }}
    {%- endif -%}
    {%- set key_prefix = prefix ~ source ~ '/date=' ~ list_day ~ '/' -%}

    {#- Lines split on LF only (a stray CR stays in its line, as in the loaders), one trailing
        CR dropped; numbered in file order (line 1 is the header). -#}
    {%- do run_query(
        "create or replace temporary view adtech_text_" ~ suffix
        ~ " using text options (path '" ~ (staged_location if staged else location)
        ~ "', lineSep '\\n')") -%}
    {#- Sizes for the manifest (binaryFile lists files without reading them). -#}
    {%- do run_query(
        "create or replace temporary view adtech_files_" ~ suffix
        ~ " using binaryFile options (path '" ~ location ~ "')") -%}
    {%- set f = [] -%}
    {%- for i in range(fields | length) -%}
        {%- do f.append('get(f, ' ~ i ~ ')') -%}
    {%- endfor -%}
    {%- set ids = [] -%}
    {%- for i in range(fields | length) if fields[i][1] == 'id' -%}
        {%- do ids.append(f[i] ~ " = ''") -%}
    {%- endfor -%}
    {%- set reason -%}
        case
            when octet_length(line) > 1048576 then 'line_too_long'
            when not is_valid_utf8(line) or instr(line, char(0)) > 0 then 'invalid_encoding'
            when instr(line, '"') > 0 then 'quoted_field'
            when (case when line = '' then 0 else size(f) end) <> {{ fields | length }}
                then 'wrong_field_count'
            when {{ ids | join(' or ') }} then 'empty_id'
            {%- for name, kind in fields %}
            {%- if kind == 'type' %}
            when {{ f[loop.index0] }} not in ('impression', 'click') then 'invalid_type'
            {%- elif kind == 'date' %}
            when {{ f[loop.index0] }} <> '{{ day }}' then case
                when not {{ f[loop.index0] }}
                    rlike '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\\z'
                    then 'unparsable_date'
                when try_cast(substr({{ f[loop.index0] }}, 9, 2) as int) > day(last_day(
                    try_to_date(concat(substr({{ f[loop.index0] }}, 1, 7), '-01'))))
                    then 'unparsable_date'
                else 'date_outside_partition' end
            {%- endif %}
            {%- endfor %}
        end
    {%- endset -%}
    {%- set judged -%}
        with read_lines as (
            select
                regexp_extract(input_file_name(), '[^/]*$', 0) as file_name,
                input_file_block_start() as block_start,
                monotonically_increasing_id() as row_id,
                value
            from adtech_text_{{ suffix }}
        ),
        lines as (
            select
                {%- if staged %}
                case file_name
                {%- for copy, original in staged.items() %}
                    when {{ _load_raw_day_literals([copy]) }}
                        then {{ _load_raw_day_literals([original]) }}
                {%- endfor %}
                end as file_name,
                {%- else %}
                file_name,
                {%- endif %}
                block_start,
                row_id,
                case when endswith(value, '\r') then substr(value, 1, length(value) - 1)
                    else value end as line
            from read_lines
        ),
        sizes as (
            select regexp_extract(path, '[^/]*$', 0) as file_name, length as size_bytes
            from adtech_files_{{ suffix }}
        ),
        split_lines as (
            select
                concat('{{ key_prefix }}', lines.file_name) as s3_key,
                sizes.size_bytes,
                block_start,
                row_id,
                line,
                split(line, ',', -1) as f
            from lines
            left join sizes on lines.file_name = sizes.file_name
        )
        select
            s3_key,
            hash(s3_key) as object_id,
            size_bytes,
            block_start,
            row_id,
            line,
            f,
            {{ reason }} as data_reason
        from split_lines
    {%- endset -%}
    {%- set scratch = 'adtech_scratch.' ~ suffix ~ '_' ~ load_id -%}
    {%- set lines_table = scratch ~ '_lines' -%}
    {%- set offsets_table = scratch ~ '_offsets' -%}
    {%- set judged_table = 'adtech_judged_' ~ suffix -%}
    {#- Line numbers without a sort: a split (a file, or a part of an uncompressed one from
        `block_start`) is read by one task in order, so monotonically_increasing_id() counts its
        lines one by one; a line's number is the lines of the file's earlier splits plus its
        place in its split. (A row_number() over each file put a whole file in one task: a
        10 M-line file ran an executor out of memory.) -#}
    {%- set offsets -%}
        select
            s3_key,
            block_start,
            first_row_id,
            coalesce(sum(lines) over (
                partition by s3_key order by block_start
                rows between unbounded preceding and 1 preceding), 0) as lines_before
        from (
            select s3_key, block_start, min(row_id) as first_row_id, count(*) as lines
            from {{ lines_table }}
            group by s3_key, block_start
        )
    {%- endset -%}
    {%- set numbered -%}
        select
            s3_key,
            object_id,
            size_bytes,
            line_number,
            line,
            f,
            case
                when line_number > 1 then data_reason
                when hex(substr(cast(line as binary), 1, 2)) = '1F8B' then 'gzip_misnamed'
                when line in ('{{ header }}', concat(decode(unhex('EFBBBF'), 'UTF-8'), '{{ header }}'))
                    then 'header'
                else 'header_mismatch'
            end as reason
        from (
            select
                judged_lines.*,
                offsets.lines_before + judged_lines.row_id - offsets.first_row_id + 1 as line_number
            from {{ lines_table }} as judged_lines
            join {{ offsets_table }} as offsets
                on judged_lines.s3_key = offsets.s3_key
                and judged_lines.block_start = offsets.block_start
        )
    {%- endset -%}
    {#- The judged lines are read six times below: written once as a parquet table in a scratch
        database (dropped at the end, with their splits' offsets), by the executors, on disk.
        Not `cache table`: that pins the whole day in memory (the driver's, in local mode) and
        spills when the day outgrows it. The load's id in the name: a load run by hand beside the
        pipeline's cannot collide. -#}
    {%- do run_query("create database if not exists adtech_scratch") -%}
    {%- do run_query("create table " ~ lines_table ~ " using parquet as " ~ judged) -%}
    {%- do run_query("create table " ~ offsets_table ~ " using parquet as " ~ offsets) -%}
    {%- do run_query("create or replace temporary view " ~ judged_table ~ " as " ~ numbered) -%}

    {%- set files = run_query(
        "select s3_key, line, reason from " ~ judged_table ~ " where line_number = 1") -%}
    {%- if files.rows | length == 0 -%}
        {%- do _load_raw_day_cleanup(suffix, scratch) -%}
        {{ exceptions.raise_compiler_error(
            source ~ " " ~ day ~ ": no objects under " ~ location) }}
    {%- endif -%}
    {%- for row in files.rows if row[2] == 'gzip_misnamed' -%}
        {%- do _load_raw_day_cleanup(suffix, scratch) -%}
        {{ exceptions.raise_compiler_error(
            root.rstrip('/') ~ "/" ~ row[0] ~ ": gzip by its first bytes, but its name does not"
            ~ " end in .gz, and Spark decompresses by the name; the pipeline's Spark load"
            ~ " (adtech run --target spark) stages such objects under a right name") }}
    {%- endfor -%}
    {%- for row in files.rows if row[2] == 'header_mismatch' -%}
        {%- do _load_raw_day_cleanup(suffix, scratch) -%}
        {{ exceptions.raise_compiler_error(
            root.rstrip('/') ~ "/" ~ row[0] ~ ": header is '" ~ row[1] ~ "', expected '"
            ~ header ~ "'") }}
    {%- endfor -%}

    {%- set counts = run_query(
        "select count_if(reason is null), count_if(line_number > 1 and reason is not null)"
        ~ " from " ~ judged_table).rows[0] -%}
    {%- set loaded, rejected = counts[0] | int, counts[1] | int -%}
    {%- if rejected > 0 and rejected / (loaded + rejected) > max_fraction -%}
        {%- set top = run_query(
            "select reason, count(*) as n from " ~ judged_table ~ " where line_number > 1"
            ~ " and reason is not null group by reason order by n desc, reason limit 3") -%}
        {%- set reasons = [] -%}
        {%- for row in top.rows -%}
            {%- do reasons.append(row[0] ~ " (" ~ row[1] ~ ")") -%}
        {%- endfor -%}
        {%- do _load_raw_day_cleanup(suffix, scratch) -%}
        {{ exceptions.raise_compiler_error(
            source ~ " " ~ day ~ ": " ~ rejected ~ " of " ~ (loaded + rejected)
            ~ " lines rejected (" ~ "%.2f" | format(100 * rejected / (loaded + rejected))
            ~ "% > ADTECH_MAX_REJECT_FRACTION " ~ "%.2f" | format(100 * max_fraction)
            ~ "%); most common reasons: " ~ reasons | join(', ') ~ "; nothing was changed") }}
    {%- endif -%}

    {#- The day's partitions, replaced whole: each is dropped, then written by a dynamic
        partition overwrite. Dynamic, because only that mode stages a job's files in a folder of
        its own (.spark-staging-<job>): loads of other sources or days writing the same table
        at the same time (ops.*) would otherwise share the table's _temporary folder and break
        each other's commits. Dropped first, because a dynamic overwrite keeps a partition that
        the new rows do not cover (a day without rejects must clear yesterday's attempt). -#}
    {%- do run_query("set spark.sql.sources.partitionOverwriteMode = dynamic") -%}
    {%- set mode = run_query("set spark.sql.sources.partitionOverwriteMode").rows[0][1] -%}
    {%- if mode | lower != 'dynamic' -%}
        {#- In static mode the inserts below would replace every partition of the tables. -#}
        {%- do _load_raw_day_cleanup(suffix, scratch) -%}
        {{ exceptions.raise_compiler_error(
            "load_raw_day: could not set dynamic partition overwrite (got " ~ mode ~ ")") }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for i in range(fields | length) if fields[i][1] != 'date' -%}
        {%- do columns.append(f[i] ~ ' as ' ~ fields[i][0]) -%}
    {%- endfor -%}
    {%- set day_literal = "cast('" ~ day ~ "' as date)" -%}
    {%- do run_query(
        "alter table raw." ~ source ~ " drop if exists partition (date = '" ~ day ~ "')") -%}
    {%- do run_query(
        "insert overwrite table raw." ~ source ~ " partition (date) select "
        ~ columns | join(', ') ~ ", object_id, cast(line_number as int), " ~ day_literal
        ~ " from " ~ judged_table ~ " where line_number > 1 and reason is null") -%}
    {%- for table in ('ops.rejected_rows', 'ops.load_manifest') -%}
        {%- do run_query(
            "alter table " ~ table ~ " drop if exists partition (date = '" ~ day
            ~ "', source = '" ~ source ~ "')") -%}
    {%- endfor -%}
    {%- do run_query(
        "insert overwrite table ops.rejected_rows partition (date, source)"
        ~ " select s3_key, line_number, " ~ _load_raw_day_stored_line() ~ ", reason, '" ~ load_id
        ~ "', object_id, " ~ day_literal ~ ", '" ~ source ~ "' from " ~ judged_table
        ~ " where line_number > 1 and reason is not null") -%}
    {%- do run_query(
        "insert overwrite table ops.load_manifest partition (date, source)"
        ~ " select object_id, s3_key, cast(null as string), max(size_bytes),"
        ~ " count_if(reason is null), count_if(line_number > 1 and reason is not null), '"
        ~ load_id ~ "', timestamp'" ~ started_at ~ "', current_timestamp(), date'" ~ list_day
        ~ "', " ~ day_literal ~ ", '" ~ source ~ "' from " ~ judged_table
        ~ " group by s3_key, object_id") -%}
    {%- do _load_raw_day_cleanup(suffix, scratch) -%}

    {%- set result = {
        'source': source, 'date': day, 'list_date': list_day, 'files': files.rows | length,
        'rows_loaded': loaded, 'rows_rejected': rejected} -%}
    {{ log("load_raw_day " ~ tojson(result), info=True) }}
    {{ return(result) }}
{%- endmacro %}

{% macro _load_raw_day_cleanup(suffix, scratch) -%}
    {%- for table in ('lines', 'offsets') -%}
        {%- do run_query("drop table if exists " ~ scratch ~ "_" ~ table) -%}
    {%- endfor -%}
    {%- for view in ('judged', 'text', 'files', 'list_days') -%}
        {%- do run_query("drop view if exists adtech_" ~ view ~ "_" ~ suffix) -%}
    {%- endfor -%}
{%- endmacro %}

{#- Spark SQL string literals (backslash escapes on), comma-separated. -#}
{% macro _load_raw_day_literals(values) -%}
    {%- set out = [] -%}
    {%- for value in values -%}
        {%- do out.append("'" ~ value | replace('\\', '\\\\') | replace("'", "\\'") ~ "'") -%}
    {%- endfor -%}
    {{- out | join(', ') -}}
{%- endmacro %}

{#- The text ops.rejected_rows keeps of a rejected line, as the loaders keep it
    (loaders/streams.py): an overlong line truncated, as valid text; an invalid_encoding line
    in PostgreSQL's bytea escape format (encode(bytes, 'escape'): a backslash doubled, NUL and
    bytes >= 0x80 as a backslash and three octal digits); any other as it is. -#}
{% macro _load_raw_day_stored_line() -%}
    case reason
        when 'line_too_long' then replace(
            make_valid_utf8(left(line, 1048576)), char(0), decode(unhex('EFBFBD'), 'UTF-8'))
        when 'invalid_encoding' then array_join(transform(
            regexp_extract_all(hex(cast(line as binary)), '(..)', 1),
            h -> case
                when h = '5C' then '\\\\'
                when h = '00' or h >= '80' then concat('\\', lpad(conv(h, 16, 8), 3, '0'))
                else decode(unhex(h), 'US-ASCII') end), '')
        else line
    end
{%- endmacro %}
