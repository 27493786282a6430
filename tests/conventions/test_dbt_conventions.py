"""The dbt project's conventions, checked by dbt-bouncer (dbt-bouncer.yml) on the manifest of
`dbt parse` (no database): every model, column and source described, every source with
freshness, a key test on every intermediate and mart model, names by layer, the API's exposure
over public models with an owner. The project passes; a manifest that breaks each rule fails
with that rule named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _bouncer(artifacts: Path) -> tuple[int, list[dict]]:
    config = yaml.safe_load((ROOT / "dbt-bouncer.yml").read_text())
    config["dbt_artifacts_dir"] = str(artifacts)
    (artifacts / "dbt-bouncer.yml").write_text(yaml.safe_dump(config))
    report = artifacts / "report.json"
    result = subprocess.run(
        [str(BIN / "dbt-bouncer"), "--config-file", str(artifacts / "dbt-bouncer.yml"),
         "--output-format", "json", "--output-file", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, json.loads(report.read_text())


def test_the_project_passes_its_conventions_and_a_breach_is_named(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere",  # parse needs no database
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    parse = subprocess.run(
        [str(BIN / "dbt"), "parse", "--quiet", "--target-path", str(tmp_path),
         "--log-path", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert parse.returncode == 0, parse.stdout[-3000:]
    code, results = _bouncer(tmp_path)
    failed = [r for r in results if r["outcome"] != "success"]
    assert code == 0 and not failed, failed
    checks = {r["check_run_id"].split(":")[0] for r in results}
    assert {
        "check_model_description_populated",
        "check_model_column_description_populated",
        "check_source_freshness_populated",
        "check_model_has_unique_test",
        "check_model_names",
        "check_exposure_based_on_non_public_models",
    } <= checks

    manifest_file = tmp_path / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    nodes = manifest["nodes"]
    nodes["model.adtech_recs.top_ctr"]["description"] = ""
    nodes["model.adtech_recs.int_ad_event_counts"]["columns"]["clicks"]["description"] = ""
    nodes["model.adtech_recs.int_active_advertisers"]["name"] = "active_advertisers"
    manifest["sources"]["source.adtech_recs.logs.ads_views"]["freshness"] = None
    for uid, node in list(nodes.items()):
        if (
            node.get("attached_node") == "model.adtech_recs.model_coverage"
            and node.get("test_metadata", {}).get("name") == "unique_combination"
        ):
            del nodes[uid]
    manifest_file.write_text(json.dumps(manifest))
    code, results = _bouncer(tmp_path)
    failed = {r["check_run_id"].split(":")[0] + " " + r["unique_id"]
              for r in results if r["outcome"] != "success"}  # fmt: skip
    assert code != 0
    assert failed == {
        "check_model_description_populated model.adtech_recs.top_ctr",
        "check_model_column_description_populated model.adtech_recs.int_ad_event_counts",
        "check_model_names model.adtech_recs.int_active_advertisers",
        "check_source_freshness_populated source.adtech_recs.logs.ads_views",
        "check_model_has_unique_test model.adtech_recs.model_coverage",
    }
