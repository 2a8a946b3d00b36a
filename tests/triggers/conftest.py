import pytest

from builder.models import Flow
from builder.services import flow_publish
from tests.runs.support import inline, memory_layer  # noqa: F401  (fixtures)


@pytest.fixture
def trip(demo):
    """The demo "Trip budget" flow, published (triggers only run published versions)."""
    flow = Flow.objects.get(workspace=demo["workspace"], name="Trip budget")
    flow_publish(flow=flow, user=demo["owner"])
    return flow
