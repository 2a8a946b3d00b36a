"""Runs and everything they record: steps, the event log, approvals, cached model responses."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    DEAD_LETTER = "dead_letter", "Dead-lettered"


FINISHED_RUN_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DEAD_LETTER}
)
#: The rest, named rather than "not finished": a filter on them uses the status index, where
#: `exclude(status__in=FINISHED_RUN_STATUSES)` reads every run ever made.
UNFINISHED_RUN_STATUSES = frozenset(set(RunStatus) - FINISHED_RUN_STATUSES)


class StepStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class Trigger(models.TextChoices):
    UI = "ui", "Editor"
    API = "api", "API"
    RERUN = "rerun", "Re-run"
    CLI = "cli", "Terminal"
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook"
    EVAL = "eval", "Evaluation"
    SUBFLOW = "subflow", "Sub-flow"


class Run(models.Model):
    flow = models.ForeignKey("builder.Flow", on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(
        "builder.FlowVersion", on_delete=models.PROTECT, related_name="runs"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="runs"
    )
    inputs = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    budgets = models.JSONField(default=dict, blank=True)
    # The model a prompt node without its own uses: the workspace's default when the run
    # started, else blank for the server's (so a later change of the default changes no run).
    default_model = models.CharField(max_length=200, blank=True, default="")
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    step_count = models.PositiveIntegerField(default=0)
    last_seq = models.PositiveIntegerField(default=0)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.UI)
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    from_node = models.CharField(max_length=64, blank=True)
    # A run started by a sub-flow step of another run: that step waits for this run's result.
    parent_step = models.ForeignKey(
        "runs.Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_runs"
    )
    # How many sub-flow steps deep this run is (0: started by a person, the API, a trigger).
    depth = models.PositiveSmallIntegerField(default=0)
    # An item of a map's region: the map node whose region (the nodes drawn inside it) this run
    # executes, alone, from its version's graph. Empty: the whole flow.
    region = models.CharField(max_length=64, blank=True, default="")
    reproduce = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    crash_count = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "status", "created_at"])]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.flow_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class Step(models.Model):
    """One execution of a node: node × iteration (loop pass) × attempt (crash re-execution)."""

    # Lookups by run use the unique (run, node, iteration, attempt) index: a second index on
    # `run` alone would only cost every step's insert one more index write.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    node_id = models.CharField(max_length=64)
    node_type = models.CharField(max_length=32)
    iteration = models.PositiveIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.QUEUED)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    ports = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    cache_hit = models.BooleanField(default=False)
    reused = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "node_id", "iteration", "attempt"], name="uniq_step_attempt"
            )
        ]
        # A plain index for the sweeper's status lookups (a CharField's db_index on PostgreSQL
        # also builds a LIKE index that nothing uses and every status change writes).
        indexes = [models.Index(fields=["status"], name="runs_step_status")]

    def __str__(self) -> str:
        return f"{self.node_id}#{self.iteration}.{self.attempt} ({self.status})"

    @property
    def latency_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class RunEvent(models.Model):
    """One entry of a run's append-only log. `seq` increases by one per run."""

    # Served by the unique (run, seq) index.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=32)
    node_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="uniq_run_event_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind}"

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "kind": self.kind,
            "node_id": self.node_id or None,
            "data": self.data,
        }


class Recording(models.Model):
    """An external response a step received (model or tool), kept so a run can be reproduced."""

    # Served by the unique (step, index) index.
    step = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="recordings", db_index=False
    )
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=8)  # llm, tool, retrieve, memory, semantic
    request = models.JSONField(default=dict)
    response = models.JSONField(default=dict)

    class Meta:
        ordering = ["step", "index"]
        constraints = [
            models.UniqueConstraint(fields=["step", "index"], name="uniq_recording_index")
        ]


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    # A failed step handed to a person: settled by typing its output, retrying it, failing it.
    ANSWERED = "answered", "Output given"
    RETRIED = "retried", "Retried"
    FAILED = "failed", "Failed"


class ApprovalKind(models.TextChoices):
    APPROVAL = "approval", "Approval"
    FALLBACK = "fallback", "Failed step"


class Approval(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    step = models.OneToOneField(Step, on_delete=models.CASCADE, related_name="approval")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="approvals"
    )
    node_id = models.CharField(max_length=64)
    kind = models.CharField(
        max_length=16, choices=ApprovalKind.choices, default=ApprovalKind.APPROVAL
    )
    title = models.CharField(max_length=200, blank=True)
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    groups = models.ManyToManyField(Group, blank=True, related_name="+")
    quorum = models.PositiveSmallIntegerField(default=1)
    instructions = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    allow_edit = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.PENDING,
        db_index=True,
    )
    timeout_action = models.CharField(max_length=16, default="timed_out")
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the assignees get their one reminder, and when it was sent (None: not yet).
    remind_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Approval {self.pk} on run {self.run_id} ({self.status})"


class ApprovalDecision(models.Model):
    """Who decided what, when, with which comment and edits. Never updated: the audit trail."""

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # "approved" or "rejected"; for a failed step: "output", "retry" or "fail"
    decision = models.CharField(max_length=16)
    comment = models.TextField(blank=True, max_length=5_000)
    edited_payload = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["approval", "user"], name="uniq_decision_per_user")
        ]


class LlmCacheEntry(models.Model):
    """A cached model response, keyed by provider, model, messages, parameters and tools."""

    key = models.CharField(max_length=64, unique=True)
    model = models.CharField(max_length=200)
    response = models.JSONField()
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)


class SemanticCacheScope(models.TextChoices):
    FLOW = "flow", "This flow"
    WORKSPACE = "workspace", "The workspace"


class SemanticCacheEntry(models.Model):
    """A prompt node's answer to a request, found again by the meaning of a later request.

    `fingerprint` identifies the node's configuration (model or auto candidates, rendered system
    message, tools, output format and schema): only an identical one may reuse the answer.
    `vector` is the request's embedding (float32, unit length) by `embedding_model`.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="semantic_cache"
    )
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=SemanticCacheScope.choices)
    fingerprint = models.CharField(max_length=64)
    embedding_model = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    text = models.TextField()
    vector = models.BinaryField()
    output = models.JSONField(null=True)
    model = models.CharField(max_length=200, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    source_run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, related_name="+")
    source_node_id = models.CharField(max_length=64, blank=True)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "workspace",
                    "flow",
                    "scope",
                    "fingerprint",
                    "embedding_model",
                    "text_hash",
                ],
                name="uniq_semantic_cache_request",
            )
        ]
        indexes = [models.Index(fields=["workspace", "fingerprint", "created_at"])]


class PantryItem(models.Model):
    """The demo pantry: what the recipe flow's `pantry` tool checks ingredients against."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="pantry_items"
    )
    name = models.CharField(max_length=100)
    quantity = models.FloatField(default=1)
    unit = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_pantry_item")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.quantity:g} {self.unit})".strip()
