"""Flows, their editable draft graph, and immutable versions."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.prepared import prepared_first

from .graph import empty_graph


class FlowQuerySet(models.QuerySet):
    def live(self) -> "FlowQuerySet":
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user) -> "FlowQuerySet":
        if not user.is_authenticated:
            return self.none()
        return self.visible_to_user_id(user.pk)

    def visible_to_user_id(self, user_id: int) -> "FlowQuerySet":
        return self.live().filter(workspace__memberships__user=user_id)


class Flow(models.Model):
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="flows"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5_000)
    graph = models.JSONField(default=empty_graph)
    revision = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Flows are soft-deleted: runs keep pointing at their versions, and history stays readable.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The token of the form that created it: submitting that form again creates nothing more.
    request_token = models.CharField(max_length=64, blank=True, default="")

    objects = FlowQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["workspace", "deleted_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "created_by", "request_token"],
                condition=~models.Q(request_token=""),
                name="flow_one_per_request_token",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def published_version(self) -> "FlowVersion | None":
        # Every run start reads it: compiled once (config.prepared), not per call.
        version = prepared_first(
            "flow.published_version",
            lambda flow_id: FlowVersion.objects.filter(flow=flow_id, published=True).order_by(
                "-number"
            )[:1],
            self.pk,
        )
        if version is not None:
            version.flow = self
        return version


class FlowVersion(models.Model):
    """A frozen graph. Runs point at the exact version they executed; it never changes."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    # Published versions are numbered 1, 2, 3…; a draft snapshot has no number, so test runs of
    # the draft never use one up (the History lists published versions only).
    number = models.PositiveIntegerField(null=True, blank=True)
    graph = models.JSONField()
    note = models.CharField(max_length=500, blank=True)
    published = models.BooleanField(default=False)
    # Draft snapshots are versions too (a run of the draft needs a frozen graph); they are hidden
    # from the history unless published.
    is_draft_snapshot = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = [models.F("number").desc(nulls_last=True), "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "number"], name="uniq_flow_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.flow} {self.label}"

    @property
    def label(self) -> str:
        """How people see it: "v3", or "Draft snapshot" for a frozen draft a run executed."""
        return "Draft snapshot" if self.number is None else f"v{self.number}"
