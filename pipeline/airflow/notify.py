"""Being told when a night fails: a mail from both DAGs' failed tasks, off by default.

Both DAGs take `on_failure_callback` from their shared task defaults (pipeline.airflow.tasks).
It is set only when ADTECH_ALERT_EMAIL_TO names recipients; the mail then goes through the
Airflow SMTP connection ADTECH_ALERT_SMTP_CONN_ID (default `adtech_smtp`) with the SMTP
provider's SmtpNotifier. A recipient without the connection logs a warning and sends nothing:
a missing alert channel never changes how a run ends.

The callback is a task callback, not the DAG's: Airflow runs it where the failed task ran, with
that task's own context (its id, its error, start's XCom with the log day), also under `airflow
dags test`, whereas a DAG callback sees only the run's last failed task, and here that is always
`record_failure`, which only repeats a failure. For the same reason `record_failure` sends
nothing itself; every other task sends one mail when it fails for good (after its retries).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

# Fails whenever another task failed, to end the run failed: not a cause worth a mail of its own.
SUMMARY_TASKS = frozenset({"record_failure"})
# An exception's text can be long (dbt output, a traceback's worth); the task log has it whole.
MAX_ERROR_CHARS = 2000


class NotifySettings(BaseSettings):
    """Who hears about a failed task, and through which Airflow connection."""

    model_config = SettingsConfigDict(extra="ignore")

    # Comma-separated addresses; unset or empty = no notifier.
    email_to: str = Field("", validation_alias="ADTECH_ALERT_EMAIL_TO")
    smtp_conn_id: str = Field("adtech_smtp", validation_alias="ADTECH_ALERT_SMTP_CONN_ID")

    @property
    def recipients(self) -> list[str]:
        return [address.strip() for address in self.email_to.split(",") if address.strip()]


def on_failure_callback() -> Callable[[Any], None] | None:
    """The tasks' failure callback, or None when no recipient is configured (read at DAG parse
    time, so turning it on or off takes a new parse of the DAG files)."""
    return notify_failure if NotifySettings().recipients else None


def notify_failure(context: Any) -> None:
    """Mail the recipients about the failed task of `context`. Never raises: a broken alert
    channel is logged, and the task's own failure stays what the run reports."""
    try:
        _notify(context)
    except Exception:
        log.exception("the failure notice could not be sent")


def _notify(context: Any) -> None:
    ti = context["ti"]
    if ti.task_id in SUMMARY_TASKS:
        return
    settings = NotifySettings()
    if not settings.recipients:
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(settings.smtp_conn_id)
    except AirflowNotFoundException:
        log.warning(
            "no failure notice sent: Airflow connection %r is not configured",
            settings.smtp_conn_id,
        )
        return
    subject, body = failure_message(context)
    notifier = SmtpNotifier(
        to=settings.recipients,
        subject=subject,
        html_content=body,
        smtp_conn_id=settings.smtp_conn_id,
    )
    # notify(), not the notifier's __call__: that renders subject and body as Jinja templates,
    # and an error's text (a task's exception, a log line) must reach the mail as it is.
    notifier.notify(context)
    log.info("failure notice sent to %s", ", ".join(settings.recipients))


def log_days(context: Any) -> tuple[str, str]:
    """The log day(s) the run works on, short (for the subject) and explained: from start's XCom
    (what every task of the run uses), else, when start itself failed, from the params or the
    data interval, as start reads them."""
    opened = None
    try:
        opened = context["ti"].xcom_pull(task_ids="start")
    except Exception:  # no XCom reachable: fall back to what the run was asked for
        log.debug("start's XCom could not be read", exc_info=True)
    if opened:
        days = [run["day"] for run in (opened if isinstance(opened, list) else [opened])]
        if len(days) == 1:
            return days[0], days[0]
        return f"{days[0]}..{days[-1]}", f"{days[0]} to {days[-1]} ({len(days)} days)"
    params = context.get("params") or {}
    if params.get("start") or params.get("end"):
        short = f"{params.get('start')}..{params.get('end')}"
        return short, f"{short} (as requested; start did not open the range)"
    if params.get("run_date"):
        return str(params["run_date"]), f"{params['run_date']} (the run_date param)"
    interval_start = context.get("data_interval_start")
    if interval_start:
        day = f"{interval_start:%Y-%m-%d}"
        return day, f"{day} (the data interval's start)"
    return "unknown", "unknown"


def failure_message(context: Any) -> tuple[str, str]:
    """Subject and HTML body: the DAG, the run, the log day(s), the failed task, its error, and
    where to look. Every value is escaped (an error's text is data, not markup)."""
    ti = context["ti"]
    dag_id, run_id, task_id = ti.dag_id, context.get("run_id") or ti.run_id, ti.task_id
    days, days_detail = log_days(context)
    error = str(context.get("exception") or "no exception recorded (see the task log)")
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + " [...]"
    try:
        log_url = ti.log_url
    except Exception:
        log_url = None
    # The params are whatever the run was triggered with: one printable line in a header.
    subject = f"[adtech-recs] {dag_id}: task {task_id} failed (log day {_one_line(days)})"
    rows = [
        ("DAG", dag_id),
        ("run", run_id),
        ("log day", days_detail),
        ("failed task", f"{task_id} (try {ti.try_number})"),
        ("error", error),
    ]
    e = html.escape
    table = "".join(f"<tr><th>{e(k)}</th><td><pre>{e(v)}</pre></td></tr>" for k, v in rows)
    where = [
        f"the task's log in the Airflow UI: <a href='{e(log_url)}'>{e(log_url)}</a>"
        if log_url
        else "the task's log in the Airflow UI",
        f"the run's days in <code>ops.pipeline_runs</code>: <code>select run_id, date, status,"
        f" error from ops.pipeline_runs where run_id like {e(_sql_literal(run_id + '%'))}</code>",
        "what is served: <code>select * from ops.published_days order by date desc limit 3"
        "</code> (a failed day keeps its earlier published version, if any)",
        "once fixed, run the day again: a new run of the DAG from the Airflow UI, or"
        " <code>adtech run --date D</code> (a range: <code>adtech backfill --start D --end D2"
        "</code>)",
    ]
    body = (
        f"<p>A task of <b>{e(dag_id)}</b> failed. A day is served once its run publishes it;"
        " until then the API keeps serving its earlier published version, if any.</p>"
        f"<table>{table}</table><p>Where to look:</p><ul>"
        + "".join(f"<li>{item}</li>" for item in where)
        + "</ul>"
    )
    return subject, body


def _one_line(text: str, limit: int = 60) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable if len(printable) <= limit else printable[:limit] + "..."


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
