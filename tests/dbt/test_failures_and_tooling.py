"""The plain `dbt build` command from the repository root, its exit code when a data test
fails (and what it leaves in place), docs, and parsing without a database. (sqlfluff's lint of
the models and singular tests is a pre-commit hook: tests/conventions/test_pre_commit.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dbt_scenario as sc
import psycopg2
import pytest
from dbt.cli.main import dbtRunner
from dbt_support import ROOT, subprocess_env

DBT = str(Path(sys.executable).parent / "dbt")


def _dbt_build(run_date, tmp: Path) -> subprocess.CompletedProcess:
    """Exactly the documented command: `dbt build --vars '{run_date: ...}'` from the root."""
    return subprocess.run(
        [DBT, "build", "--vars", f"{{run_date: {run_date}}}"],
        cwd=ROOT,
        env=subprocess_env(tmp),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def good_then_bad(project_db: str, tmp_path_factory) -> dict:
    """Day 1 builds; day 2 has an ad event of an unknown type, which an error-level test rejects."""
    tmp = tmp_path_factory.mktemp("dbt-cli")
    day1, day2 = sc.build_days()[:2]
    day2.ads_views.append(("adv_a", "adv_a_p01", "view"))
    conn = psycopg2.connect(project_db)
    sc.insert_day(conn, day1)
    first = _dbt_build(day1.date, tmp)
    with psycopg2.connect(project_db) as c, c.cursor() as cur:
        cur.execute("select * from marts.recommendations order by 1, 2, 3, 4")
        day1_rows = cur.fetchall()
    sc.insert_day(conn, day2)
    second = _dbt_build(day2.date, tmp)
    conn.close()
    return {"first": first, "second": second, "day1_rows": day1_rows, "days": (day1, day2)}


def test_plain_dbt_build_from_the_root_succeeds(good_then_bad) -> None:
    first = good_then_bad["first"]
    assert first.returncode == 0, first.stdout[-3000:]
    assert good_then_bad["day1_rows"], "day 1 built no recommendations"


def test_a_failing_data_test_exits_non_zero_and_keeps_what_was_there(
    good_then_bad, project_db
) -> None:
    second = good_then_bad["second"]
    assert second.returncode != 0
    assert "FAIL 1 accepted_values_stg_logs__ads_views_event_type" in second.stdout
    with psycopg2.connect(project_db) as conn, conn.cursor() as cur:
        cur.execute("select * from marts.recommendations order by 1, 2, 3, 4")
        assert cur.fetchall() == good_then_bad["day1_rows"]


def test_a_failed_build_leaves_every_mart_in_place(good_then_bad, project_db) -> None:
    """The views the API reads survive a build that stops early (a view rebuilt upstream of one
    would drop it: dbt replaces views and drops the old one with cascade)."""
    assert good_then_bad["second"].returncode != 0
    with psycopg2.connect(project_db) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('marts.recommendation_changes')")
        assert cur.fetchone()[0] is not None
        cur.execute("select count(*) from marts.recommendation_changes")


def test_docs_generate_documents_every_model_and_column(good_then_bad, dbt) -> None:
    result = dbt("docs", "generate", run_date=good_then_bad["days"][0].date.isoformat())
    assert result.success
    manifest = json.loads((dbt.target / "manifest.json").read_text())
    catalog = json.loads((dbt.target / "catalog.json").read_text())
    assert (dbt.target / "index.html").exists()
    models = {
        k: n
        for k, n in manifest["nodes"].items()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    }
    # Every model file of the project is documented: none is left out of the docs.
    sql_files = {p.stem for p in (ROOT / "dbt_project" / "models").rglob("*.sql")}
    every_model = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert every_model == sql_files
    assert {n["name"] for n in models.values()} >= {"top_ctr", "top_product", "recommendations"}
    for key, node in models.items():
        assert node["description"].strip(), key
        assert key in catalog["nodes"], (key, sorted(catalog["nodes"]), catalog.get("errors"))
        built_columns = catalog["nodes"][key]["columns"]
        assert set(built_columns) == set(node["columns"]), key
        for name, column in node["columns"].items():
            assert column["description"].strip(), f"{key}.{name}"
    for key, source in manifest["sources"].items():
        assert source["description"].strip(), key
        assert all(c["description"].strip() for c in source["columns"].values()), key


def _not_null_checks(dbt, target: str) -> tuple[dict[str, set[str]], set[str], set[str]]:
    """From a parse for `target`: {relation: columns} of the not_null constraints the models'
    contracts declare (enforced or not), the (model, column) pairs of the enabled not_null
    tests, and the relations whose post-hooks run check_not_null."""
    assert dbt("parse", "--target", target).success
    manifest = json.loads((dbt.target / "manifest.json").read_text())
    constrained, tested, checked = {}, set(), set()
    for node in manifest["nodes"].values():
        relation = f"{node['schema']}.{node.get('alias')}"
        columns = {
            name
            for name, column in node["columns"].items()
            if any(c["type"] == "not_null" for c in column.get("constraints", []))
        }
        if node["resource_type"] == "model" and columns:
            constrained[relation] = columns
        if any("check_not_null(" in hook["sql"] for hook in node["config"].get("post-hook", [])):
            checked.add(relation)
        if node.get("test_metadata", {}).get("name") == "not_null":
            model = node["attached_node"].split(".")[-1]
            tested.add(f"{model}.{node['column_name']}")
    return constrained, tested, checked


def test_a_null_is_refused_by_the_table_on_postgres_and_by_a_hook_on_spark(
    good_then_bad, dbt, project_db
):
    """A not_null constraint of a contract: PostgreSQL's table refuses the null itself, so no
    not_null test runs there; on Spark, whose tables hold no constraints, every such model runs
    check_not_null after it writes (tests/spark checks that it fails the model). Staging's views
    rest on raw's columns, declared not null on PostgreSQL: their not_null tests run on Spark
    only."""
    constrained, on_postgres, _ = _not_null_checks(dbt, "default")
    on_spark_constrained, on_spark, checked = _not_null_checks(dbt, "spark")
    assert not on_postgres
    assert {"marts.top_ctr", "intermediate.int_ad_event_counts"} <= set(on_spark_constrained)
    assert set(on_spark_constrained) <= checked
    assert "top_ctr.score" not in on_spark  # the hook checks it, no test node
    assert {"stg_logs__ads_views.product_id", "stg_logs__product_views.advertiser_id"} <= on_spark
    assert all(test.startswith("stg_") for test in on_spark), on_spark
    with psycopg2.connect(project_db) as conn, conn.cursor() as cur:
        for relation, columns in constrained.items():
            cur.execute(
                "select attname from pg_attribute where attrelid = to_regclass(%s)"
                " and attnum > 0 and attnotnull",
                (relation,),
            )
            assert columns <= {name for (name,) in cur.fetchall()}, relation
        # Staging's not_null tests rest on raw's own columns.
        cur.execute(
            "select count(*) from pg_attribute where attrelid = 'raw.ads_views'::regclass"
            " and attname in ('advertiser_id', 'product_id') and attnotnull"
        )
        assert cur.fetchone() == (2,)


def test_a_mart_made_before_its_contract_gets_the_not_null_constraints(
    good_then_bad, dbt, project_db
) -> None:
    """An incremental mart's table is made once: one made before a column's not_null
    constraint (here: dropped again) gets it at its next build."""
    with psycopg2.connect(project_db) as conn, conn.cursor() as cur:
        cur.execute("alter table marts.top_ctr alter column score drop not null")
    day1 = good_then_bad["days"][0].date.isoformat()
    assert dbt("run", "--select", "top_ctr", run_date=day1).success
    with psycopg2.connect(project_db) as conn, conn.cursor() as cur:
        cur.execute(
            "select attnotnull from pg_attribute"
            " where attrelid = 'marts.top_ctr'::regclass and attname = 'score'"
        )
        assert cur.fetchone() == (True,)
        with pytest.raises(psycopg2.errors.NotNullViolation):
            cur.execute(
                "insert into marts.top_ctr (date, version, advertiser_id, rank, product_id,"
                " impressions, clicks, ctr, score) values (%s, 1, 'a', 1, 'p', 1, 0, 0, null)",
                (day1,),
            )


def test_parse_needs_no_database(dbt, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAG renders its task group from target/manifest.json made by `dbt parse`, which must
    work with no reachable database and no vars."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    result = dbt("parse")
    assert result.success
    manifest = json.loads((dbt.target / "manifest.json").read_text())
    names = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"top_ctr", "top_product", "recommendations", "int_ad_event_counts"} <= names


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DATABASE_URL": "postgresql://bob:s3cret@db.invalid:6543/mydb?sslmode=require"},
            {"host": "db.invalid", "port": "6543", "user": "bob", "database": "mydb"},
        ),
        (
            {"DATABASE_URL": "postgres://db.invalid/mydb", "PGUSER": "carol"},
            {"host": "db.invalid", "port": "5432", "user": "carol", "database": "mydb"},
        ),
        (
            {"PGHOST": "pg.invalid", "PGPORT": "7654", "PGUSER": "dave", "PGDATABASE": "pgdb"},
            {"host": "pg.invalid", "port": "7654", "user": "dave", "database": "pgdb"},
        ),
    ],
)
def test_profile_reads_the_connection_from_the_environment(
    env: dict, expected: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """profiles.yml splits DATABASE_URL in Jinja, else uses the PG* variables (`dbt debug`
    prints what it resolved; the hosts do not exist, so only the connection check fails)."""
    for name in ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    printed: list[str] = []

    def collect(event) -> None:
        if event.info.name == "DebugCmdOut":
            printed.append(event.info.msg.strip())

    dbtRunner(callbacks=[collect]).invoke(
        [
            "debug",
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT),
            "--log-path",
            str(tmp_path),
        ]
    )
    resolved = dict(line.split(": ", 1) for line in printed if ": " in line)
    assert {key: resolved.get(key) for key in expected} == expected
