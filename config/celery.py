"""The Celery application. Workers only receive kicks; the database says what is done.

Start a worker with a threads pool and dozens of threads: steps wait on the network (model and
tool calls), not on the CPU, so prefork with a handful of processes would idle most of the time.

    celery -A config worker --pool threads --concurrency 32 -l info
    celery -A config beat -l info          # the sweeper; exactly one per deployment

Delivery settings (`CELERY_*` in settings.py): acks_late and reject_on_worker_lost, prefetch 1 so
a slow step does not hold kicks other threads could take, a hard time limit (30 min) above the
longest node timeout (15 min per model call), and on Redis no ack emulation. Recovery never
waits for the broker: steps hold leases with a heartbeat, and the sweeper re-kicks runs whose
lease expired and re-sends, within seconds, kicks a dead worker had taken but not started (see
runs/tasks.py `delivered_before`).

The sweeper is not a scheduled task: beat starts it on a thread of its own process, where it
sweeps every SWITCHBOARD_SWEEP_SECONDS straight against the database and the broker. Sent as a
message it would wait in the kicks' queue for a free worker, which under load is exactly when it
is needed and exactly when it expired unprocessed.
"""

import os

from celery import Celery, signals

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
)
app.autodiscover_tasks()


@signals.beat_init.connect
def start_sweeper(sender=None, **kwargs) -> None:
    """Sweep from the beat process (also when beat is embedded in a worker with -B)."""
    from django.apps import apps

    if not apps.ready:  # Celery's Django fixup has set it up (setting up again resets logging)
        import django

        django.setup()
    from runs.tasks import sweeper

    sweeper.start(SWEEP_SECONDS)
