"""A small flow to evaluate (input → prompt → output) and datasets for it."""

from builder.models import Flow
from evals.datasets import dataset_create, dataset_upload

GRAPH = {
    "schema_version": 1,
    "nodes": [
        {
            "id": "question",
            "type": "input",
            "position": {"x": 0, "y": 0},
            "config": {
                "schema": {
                    "type": "object",
                    "properties": {"question": {"type": "string"}},
                    "required": ["question"],
                }
            },
        },
        {
            "id": "answer",
            "type": "prompt",
            "position": {"x": 240, "y": 0},
            "config": {"prompt": "Answer briefly: {{ inputs.question }}"},
        },
        {"id": "done", "type": "output", "position": {"x": 480, "y": 0}, "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "question", "target": "answer"},
        {"id": "e2", "source": "answer", "target": "done"},
    ],
}


def qa_flow(workspace, user, name="Support answers") -> Flow:
    return Flow.objects.create(workspace=workspace, name=name, graph=GRAPH, created_by=user)


def jsonl(rows) -> bytes:
    import json

    return "\n".join(json.dumps(row) for row in rows).encode()


def capitals_dataset(workspace, user, count=4):
    dataset = dataset_create(user=user, workspace_id=workspace.pk, name="Capitals")
    cities = ["Paris", "Oslo", "Rome", "Lima", "Cairo", "Quito", "Hanoi", "Dakar", "Seoul", "Bern"]
    rows = [
        {
            "inputs": {"question": f"capital {i} {cities[i % len(cities)]}"},
            "expected": cities[i % len(cities)],
        }
        for i in range(count)
    ]
    dataset_upload(user=user, dataset=dataset, filename="capitals.jsonl", content=jsonl(rows))
    return dataset
