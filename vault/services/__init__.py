"""Credentials and workspace model providers: who may change them, and reading them at call time.

Values go in and never come back out through a service a page or the API calls: the only readers
of a decrypted value are `credential_value` (the run engine, resolving `{{ secrets.<name> }}`),
`provider_key` (the model client, when it builds its SDK client) and `credential_values` (exports,
to redact them by value).
"""

from .credentials import (
    MAX_VALUE_CHARS,
    credential_create,
    credential_delete,
    credential_get,
    credential_list,
    credential_names,
    credential_replace,
    credential_value,
    credential_values,
    credentials_rotate,
)
from .providers import (
    MAX_MODELS,
    check_base_url,
    credential_id_named,
    env_providers,
    model_catalogue,
    provider_config,
    provider_create,
    provider_delete,
    provider_get,
    provider_key,
    provider_list,
    provider_names,
    provider_update,
    server_providers,
)

__all__ = [
    "MAX_MODELS",
    "MAX_VALUE_CHARS",
    "check_base_url",
    "credential_create",
    "credential_delete",
    "credential_get",
    "credential_id_named",
    "credential_list",
    "credential_names",
    "credential_replace",
    "credential_value",
    "credential_values",
    "credentials_rotate",
    "env_providers",
    "model_catalogue",
    "provider_config",
    "provider_create",
    "provider_delete",
    "provider_get",
    "provider_key",
    "provider_list",
    "provider_names",
    "provider_update",
    "server_providers",
]
