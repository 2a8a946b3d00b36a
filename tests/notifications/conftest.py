from tests.runs.support import inline, memory_layer  # noqa: F401 - fixtures
