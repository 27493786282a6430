"""What the project declares about itself, checked on dbt's own parse (no database needed): the
API as a dbt exposure over exactly what it reads (the relations named in api/'s SQL, every string
literal of its modules but docstrings, are the exposure's depends_on, each model among them
public and owned by the group `serving`), and the named selections of selectors.yml that the
pipeline builds."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner
from dbt_support import ROOT

EXPOSURE = "exposure.adtech_recs.api"
EXPOSURE_FILE = "dbt_project/models/marts/_marts__exposures.yml"
# A relation of the schemas the API may read, as SQL names it: marts.<table>, ops.<table>.
RELATION = re.compile(r"\b(marts|ops)\.([a-z_][a-z0-9_]*)\b")


def _sql_strings(path: Path) -> list[str]:
    """The string literals of a module (f-strings' literal parts too), without docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def api_relations() -> dict[str, set[str]]:
    """{relation: the api/ files whose SQL names it}."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "api").rglob("*.py")):
        for text in _sql_strings(path):
            for schema, table in RELATION.findall(text):
                found.setdefault(f"{schema}.{table}", set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """One target folder for the module: dbt's partial parsing serves every command after the
    first parse."""
    return tmp_path_factory.mktemp("dbt-parse")


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")


def _dbt(target: Path, *args: str):
    result = dbtRunner().invoke(
        [*args, "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(target), "--log-path", str(target), "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception
    return result


def test_the_api_exposure_lists_exactly_what_the_api_reads(target: Path) -> None:
    _dbt(target, "parse")
    manifest = json.loads((target / "manifest.json").read_text())
    exposure = manifest["exposures"][EXPOSURE]
    nodes = {**manifest["nodes"], **manifest["sources"]}
    listed = {
        f"{nodes[uid]['schema']}.{nodes[uid].get('alias') or nodes[uid]['identifier']}": uid
        for uid in exposure["depends_on"]["nodes"]
    }
    read = api_relations()
    assert {"marts.recommendations", "ops.published_days"} <= set(read), read  # the parse works
    missing = sorted(set(read) - set(listed))
    assert not missing, "\n".join(
        f"api/ reads {relation} ({', '.join(sorted(read[relation]))}) but the dbt exposure `api`"
        f" ({EXPOSURE_FILE}) does not list it: add `- ref('{relation.split('.')[1]}')` (a"
        f" source: `- source('ops', '{relation.split('.')[1]}')`) to its depends_on, and"
        " `config: {access: public, group: serving}` to the model's YAML"
        for relation in missing
    )
    extra = sorted(set(listed) - set(read))
    assert not extra, (
        f"the exposure `api` ({EXPOSURE_FILE}) lists {extra}, which api/ no longer reads:"
        " remove them from its depends_on"
    )
    assert exposure["owner"]["name"] and exposure["config"]["group"] == "serving"
    for relation, uid in listed.items():
        if uid.startswith("model."):
            node = manifest["nodes"][uid]
            assert (node["access"], node["group"]) == ("public", "serving"), (
                f"{relation} is read by the API: give it `config: {{access: public, group:"
                " serving}}` in its YAML"
            )
    assert manifest["groups"]["group.adtech_recs.serving"]["owner"]["name"]


def test_dbt_lists_what_the_api_depends_on(target: Path) -> None:
    """`dbt ls -s +exposure:api`: the API's marts and everything upstream of them."""
    result = _dbt(target, "ls", "-s", "+exposure:api", "--resource-type", "model",
                  "--resource-type", "exposure", "--output", "name")  # fmt: skip
    names = set(result.result)
    assert {"api", "recommendations", "model_coverage", "recommendation_changes"} <= names
    assert {"top_ctr", "top_product", "int_active_advertisers", "stg_logs__ads_views"} <= names


def test_the_pipeline_builds_the_nightly_selector_of_selectors_yml(target: Path) -> None:
    """One definition: the night's build is `--selector nightly` (pipeline/steps/transform.py),
    whose tags are the pipeline's steps (pipeline/flow/sequence.py reads them from
    selectors.yml); it selects what the steps' tags with buildable indirect selection and no unit
    tests select, and `one_day` adds the unit tests."""
    from pipeline.flow.sequence import DBT_STEPS, NIGHTLY_SELECTOR, selector_tags

    tags = selector_tags(NIGHTLY_SELECTOR)
    assert tags == ["filtrar_datos", "top_ctr", "top_product", "db_writing"]
    assert [step.select for step in DBT_STEPS] == [f"tag:{tag}" for tag in tags]
    nightly = set(_dbt(target, "ls", "--selector", "nightly").result)
    by_tags = set(
        _dbt(target, "ls", "--select", *(f"tag:{t}" for t in tags), "--indirect-selection",
             "buildable", "--exclude-resource-type", "unit_test").result
    )  # fmt: skip
    one_day = set(_dbt(target, "ls", "--selector", "one_day").result)
    assert nightly == by_tags and len(nightly) > 30
    assert one_day - nightly and all(n.startswith("unit_test:") for n in one_day - nightly)
