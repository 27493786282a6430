"""The API as a dbt exposure over exactly what it reads: the relations named in api/'s SQL
(every string literal of its modules, docstrings aside) are the exposure's depends_on, and each
model among them is public and owned (group `serving`). No database is needed (`dbt parse`)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

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


def _manifest(tmp_path: Path) -> dict:
    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(tmp_path), "--log-path", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception
    return json.loads((tmp_path / "manifest.json").read_text())


def test_the_api_exposure_lists_exactly_what_the_api_reads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    manifest = _manifest(tmp_path)
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


def test_dbt_lists_what_the_api_depends_on(tmp_path: Path, monkeypatch) -> None:
    """`dbt ls -s +exposure:api`: the API's marts and everything upstream of them."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    printed: list[str] = []
    result = dbtRunner(callbacks=[lambda e: printed.append(e.info.msg)]).invoke(
        ["ls", "-s", "+exposure:api", "--resource-type", "model", "--resource-type", "exposure",
         "--output", "name", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(tmp_path), "--log-path", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception
    names = set(result.result)
    assert {"api", "recommendations", "model_coverage", "recommendation_changes"} <= names
    assert {"top_ctr", "top_product", "int_active_advertisers", "stg_logs__ads_views"} <= names
