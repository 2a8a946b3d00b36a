"""Datasets of example inputs, and evaluation runs of a flow version over them."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class Dataset(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2_000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Label(models.TextChoices):
    NONE = "", "—"
    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"


class ItemSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    RUN = "run", "Past run"
    APPROVAL = "approval", "Approval"
    MANUAL = "manual", "Added by hand"


class DatasetItem(models.Model):
    """One example: the run inputs, optionally the output expected, tags and a label.

    A negative example (a rejected approval) records an output that must *not* come back.
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    inputs = models.JSONField(default=dict)
    expected = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    label = models.CharField(max_length=8, choices=Label.choices, blank=True)
    source = models.CharField(max_length=8, choices=ItemSource.choices, default=ItemSource.UPLOAD)
    source_run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_approval = models.ForeignKey(
        "runs.Approval", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "source_approval"],
                condition=models.Q(source_approval__isnull=False),
                name="uniq_dataset_item_approval",
            ),
            models.UniqueConstraint(
                fields=["dataset", "source_run"],
                condition=models.Q(source_run__isnull=False, source_approval__isnull=True),
                name="uniq_dataset_item_run",
            ),
        ]


class DatasetUpload(models.Model):
    """What one file upload added and which rows it refused, for the uploader's report page (the
    upload's POST redirects there, so reloading the report never uploads the file again). The
    refused rows are kept up to a bound; `problem_count` counts them all."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=200, blank=True)
    added = models.PositiveIntegerField(default=0)
    problem_count = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)  # [{row, message, text}], the first ones
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Upload {self.pk} of {self.filename!r} to dataset {self.dataset_id}"

    @property
    def problems_left_out(self) -> int:
        """How many refused rows the report does not list."""
        return max(self.problem_count - len(self.problems), 0)


class EvaluationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    CANCELLED = "cancelled", "Cancelled"
    STOPPED = "stopped", "Stopped"


class Evaluation(models.Model):
    """A flow version run over every item of a dataset, scored item by item."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="evaluations"
    )
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="evaluations")
    version = models.ForeignKey(
        "builder.FlowVersion", on_delete=models.PROTECT, related_name="evaluations"
    )
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="evaluations")
    scorers = models.JSONField(default=list, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(
        max_length=12, choices=EvaluationStatus.choices, default=EvaluationStatus.RUNNING
    )
    item_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    driver_seen_at = models.DateTimeField(null=True, blank=True)
    # Why a stopped evaluation stopped (a spend budget used up), in words and as a stable code.
    stop_code = models.CharField(max_length=40, blank=True)
    stop_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of {self.flow_id} v{self.version_id} on {self.dataset_id}"

    @property
    def is_finished(self) -> bool:
        return self.status != EvaluationStatus.RUNNING


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class EvaluationItem(models.Model):
    """One dataset item in one evaluation: its run (exactly one), output and scores."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="items")
    dataset_item = models.ForeignKey(DatasetItem, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    run = models.OneToOneField(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluation_item"
    )
    status = models.CharField(
        max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING, db_index=True
    )
    output = models.JSONField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    score = models.FloatField(null=True, blank=True)
    scores = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["evaluation", "dataset_item"], name="uniq_evaluation_dataset_item"
            )
        ]


class JudgeCall(models.Model):
    """One LLM-judge call of an evaluation: its spend counts in the budgets and on the cost page
    like a step's (it is no step of any run)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="judge_calls")
    item = models.ForeignKey(
        EvaluationItem, null=True, on_delete=models.SET_NULL, related_name="judge_calls"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=200)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["workspace", "created_at"])]


class RouterModel(models.Model):
    """A workspace's learned model router: fitted arrays as JSON (never a pickle), with how it
    did on held-out labels against the baseline. Refitted in place."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="router_model"
    )
    params = models.JSONField(default=dict)
    embedding_model = models.CharField(max_length=200, blank=True)
    label_count = models.PositiveIntegerField(default=0)
    # learned/baseline accuracy on cross-validated held-out labels (overall and per tier), the
    # tiers on which the baseline decides (`baseline_tiers`), label sources
    metrics = models.JSONField(default=dict, blank=True)
    # Used for routing when it predicted some tier's held-out labels at least as well as the
    # baseline (the baseline's answer stands on the other tiers).
    active = models.BooleanField(default=False)
    trained_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Router of workspace {self.workspace_id} ({self.label_count} labels)"


class JudgeClaim(models.Model):
    """One LLM-judge question about one evaluation item, claimed in the database before the
    model is asked: two drivers scoring the same item (one thought dead, still in its call) pay
    for it once. The reply stays on the claim, so a driver that takes over an item whose judge
    answered, but whose score was never saved, reuses it rather than asking again."""

    item = models.ForeignKey(EvaluationItem, on_delete=models.CASCADE, related_name="judge_claims")
    key = models.CharField(max_length=64)  # sha256 of the judge's model and messages
    holder = models.CharField(max_length=32)  # the claiming driver's token
    claimed_at = models.DateTimeField()
    # {content, model, tokens_in, tokens_out, cost} once the judge answered
    reply = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "key"], name="uniq_judge_claim")]
