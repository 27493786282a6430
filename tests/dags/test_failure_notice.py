"""A failed night sends a mail (pipeline/airflow/notify.py), caught by a real SMTP server.

One real `airflow dags test` run fails in one task: the day's ads_views partition is missing
from S3, so `load_ads_views` fails, naming the partition, and the run ends failed, the day
unpublished. With ADTECH_ALERT_EMAIL_TO and the
Airflow connection `adtech_smtp` set, an aiosmtpd server started here receives exactly one mail
naming the DAG, the run, the day and the failed task (record_failure, which only repeats the
failure, sends none). A failing task without the connection sends nothing and raises nothing:
the day's build, whose check of the sources finds ads_views never loaded and stops it before
anything is built.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import types
from email.message import EmailMessage

import psycopg2
import pytest
from aiosmtpd.controller import Controller

from devstack.ports import free_port
from pipeline.airflow.env import dags_test, task_instances
from pipeline.airflow.notify import failure_message
from tests.dags.dag_data import generate, module_env, query

DAY = "2024-11-20"
RECIPIENT = "oncall@adtech.test"


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd calls it by this name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
def env(stack, admin_url, s3, tmp_path_factory):
    """One generated day whose ads_views are missing: only `load_ads_views` can fail."""
    with module_env(admin_url, s3, tmp_path_factory.mktemp("airflow"), "t_notify") as env:
        generate(env, DAY, days=1)
        bucket = env["ADTECH_S3_BUCKET"]
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"raw/ads_views/date={DAY}/")
        for obj in listed["Contents"]:
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        yield env


def _connection(port: int) -> str:
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "from_email": "airflow@adtech.test",
                "disable_ssl": True,
                "disable_tls": True,
                "timeout": 10,
                "retry_limit": 0,
            },
        }
    )


def _latest_run_id(env: dict) -> str:
    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2", "postgresql")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select run_id from dag_run where dag_id = 'adtech_recommendations'"
                    " order by id desc limit 1")  # fmt: skip
        return cur.fetchone()[0]


def _html(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def test_a_failed_night_mails_once_and_without_a_connection_sends_nothing(env, smtp) -> None:
    controller, inbox = smtp
    notified = {
        **env,
        "ADTECH_ALERT_EMAIL_TO": RECIPIENT,
        "AIRFLOW_CONN_ADTECH_SMTP": _connection(controller.port),
    }
    result = dags_test(notified, DAY)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    states = {task: state for task, (state, _) in task_instances(env, DAY).items()}
    assert states["load_ads_views"] == "failed" and states["record_failure"] == "failed"
    assert states["load_product_views"] == "success"
    # The load says which partition is missing, and the day is not published.
    assert "MissingPartitionError" in output and f"date={DAY}" in output
    assert query(env, "select date from ops.published_days") == []
    run_id = _latest_run_id(env)

    # One mail: the failed load's (record_failure only repeats the failure).
    assert len(inbox.messages) == 1, [m["Subject"] for _, m in inbox.messages]
    recipients, message = inbox.messages[0]
    assert recipients == [RECIPIENT]
    assert message["From"] == "airflow@adtech.test"
    subject = message["Subject"]
    assert "adtech_recommendations" in subject and "load_ads_views" in subject
    assert DAY in subject
    body = _html(message)
    for expected in (
        "adtech_recommendations",
        run_id,  # the run (as Airflow names it)
        DAY,  # the log day, from start's XCom
        "load_ads_views",
        f"ads_views {DAY}: no objects under",  # the task's error, as raised
        "/dags/adtech_recommendations/runs/",  # the task log's address
        "ops.pipeline_runs",
    ):
        assert expected in body, f"{expected!r} missing from:\n{body}"

    # A failure with recipients set but no connection: nothing sent, nothing raised. The same
    # night's build fails: `start` opens the day again (a new version: the failed run is closed)
    # and Cosmos's producer checks the day's sources before it builds; ads_views never loaded,
    # so it fails naming that source, with nothing built. (`airflow tasks test` runs each task,
    # and its failure callback, as `dags test` does, in the same DAG run: start's XCom is there.)
    quiet = {k: v for k, v in notified.items() if k != "AIRFLOW_CONN_ADTECH_SMTP"}
    output = ""
    for task in ("start", "dbt_build.dbt_producer_watcher"):
        result = subprocess.run(
            ["airflow", "tasks", "test", "adtech_recommendations", task, DAY],
            env=quiet,
            capture_output=True,
            text=True,
        )
        output = result.stdout + result.stderr
    assert f"logs.ads_views has no loaded row for {DAY}" in output, output[-3000:]
    assert "START sql" not in output  # nothing built: the check runs before the build
    assert "no failure notice sent: Airflow connection 'adtech_smtp' is not configured" in output
    assert "could not be sent" not in output and "Failed to run task callback" not in output
    assert len(inbox.messages) == 1


def test_the_notifier_is_off_by_default(monkeypatch) -> None:
    """No recipient: the DAGs' tasks get no failure callback at all."""
    from pipeline.airflow.tasks import default_args

    monkeypatch.delenv("ADTECH_ALERT_EMAIL_TO", raising=False)
    assert default_args()["on_failure_callback"] is None
    monkeypatch.setenv("ADTECH_ALERT_EMAIL_TO", " , ")
    assert default_args()["on_failure_callback"] is None
    monkeypatch.setenv("ADTECH_ALERT_EMAIL_TO", RECIPIENT)
    assert default_args()["on_failure_callback"] is not None


def test_hostile_text_in_an_error_reaches_the_mail_as_text() -> None:
    """An error's text (it may quote a log line) is neither markup nor a Jinja template."""
    ti = types.SimpleNamespace(
        dag_id="adtech_recommendations",
        run_id="manual__x'; drop table ops.published_days; --",
        task_id="load_ads_views",
        try_number=1,
        log_url="http://airflow.example/dags/adtech_recommendations/runs/x",
        xcom_pull=lambda task_ids: {"run_id": "r", "day": DAY, "version": 1},
    )
    error = RuntimeError("<script>alert(1)</script> {{ 7 * 7 }} " + "x" * 5000)
    subject, body = failure_message({"ti": ti, "run_id": ti.run_id, "exception": error})
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "{{ 7 * 7 }}" in body and "49" not in body
    assert len(body) < 5000 and "[...]" in body
    # The run id is quoted as an SQL literal in the hint (its quote doubled).
    assert "x&#x27;&#x27;; drop table" in body
    assert DAY in subject and "\n" not in subject
    # start failed (no XCom): the day comes from the params as triggered, kept to one line.
    ti.xcom_pull = lambda task_ids: None
    params = {"start": "2024-11-20\r\nBcc: all@example.com", "end": "x" * 500}
    subject, body = failure_message({"ti": ti, "run_id": ti.run_id, "params": params})
    assert "\r" not in subject and "\n" not in subject and len(subject) < 200
    assert "2024-11-20" in subject and "no exception recorded" in body
