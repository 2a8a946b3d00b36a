"""Model calls through the official `openai` SDK, for any OpenAI-compatible provider.

    from runs.llm import LlmClient, LlmError

    response = LlmClient().chat(model="openai/gpt-4o-mini", messages=[...])

Timeouts, retries with backoff that honours Retry-After, fallback models, token and cost
accounting, a response cache and streaming are handled here; refusals, truncation and malformed
tool-call JSON come back as `LlmError` codes, never as crashes.
"""

from .client import LlmClient
from .response import LlmError, LlmResponse, ToolCall

__all__ = ["LlmClient", "LlmError", "LlmResponse", "ToolCall"]
