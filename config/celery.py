"""The Celery application. Workers only receive kicks; the database says what is done.

Start a worker with a threads pool and dozens of threads: steps wait on the network (model and
tool calls), not on the CPU, so prefork with a handful of processes would idle most of the time.

    celery -A config worker --pool threads --concurrency 32 -l info
    celery -A config beat -l info          # the sweeper; one per deployment

Delivery settings (`CELERY_*` in settings.py): acks_late and reject_on_worker_lost so a kick is
not lost with its worker, prefetch 1 so a slow step does not hold kicks other threads could take,
a hard time limit (30 min) above the longest node timeout (15 min per model call), and a
visibility timeout (1 h) above that. Recovery never waits for the visibility timeout: steps hold
leases with a heartbeat, and the beat-driven sweeper re-kicks runs whose lease expired.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# How often the sweeper looks for expired leases, lost kicks and due approvals.
SWEEP_SECONDS = float(os.environ.get("SWITCHBOARD_SWEEP_SECONDS", "2"))

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # A dedicated queue name keeps deployments (and test sessions) sharing a Redis apart.
    task_default_queue=os.environ.get("SWITCHBOARD_CELERY_QUEUE", "celery"),
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # Kicks are idempotent (claims are atomic in the database), so a redelivery after a lost
    # connection is harmless; cancelling long tasks would only throw work away.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    beat_schedule={
        "switchboard-sweep": {
            "task": "runs.tasks.sweep",
            "schedule": SWEEP_SECONDS,
            # A sweep nobody picked up in time is worthless: the next one supersedes it.
            "options": {"expires": max(SWEEP_SECONDS * 2, 1.0)},
        }
    },
)
app.autodiscover_tasks()
