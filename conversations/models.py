from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """A chat with a flow: one run per message; its turns are the memory."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE)
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    embedding_model = models.CharField(max_length=200)
    title = models.CharField(max_length=120, blank=True, default="")
    # The rolling summary of the turns up to `summary_upto` (the memory node folds older turns
    # into it once the conversation outgrows the node's budget; each fold adds only new turns).
    summary = models.TextField(blank=True, default="")
    summary_upto = models.PositiveIntegerField(default=0)
    summary_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def label(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Turn(models.Model):
    """One message and the answer of the run it started; the vector lives on the row, so
    deleting the conversation deletes its embeddings."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="turns")
    position = models.PositiveIntegerField()
    run = models.OneToOneField("runs.Run", on_delete=models.SET_NULL, null=True)
    message = models.TextField()
    answer = models.TextField(blank=True, default="")
    vector = models.BinaryField(null=True)
    tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "position"], name="turn_position")
        ]
