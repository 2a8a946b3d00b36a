"""The shipped benchmark dataset: regenerated from its script it is the committed file, it has the
size and mix the benchmark claims, and every near-duplicate repeats an earlier request's answer."""

import json
import subprocess
import sys
from pathlib import Path

from bench.data.make_support_requests import OUT, generate, render


def test_the_committed_dataset_is_what_the_script_generates():
    assert OUT.read_text() == render(generate(12))
    done = subprocess.run(
        [sys.executable, "-m", "bench.data.make_support_requests", "--check"],
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert done.returncode == 0


def test_the_dataset_mixes_difficulty_and_repeats_only_after_the_original():
    items = [json.loads(line) for line in OUT.read_text().splitlines()]
    assert len(items) >= 200
    tags = [set(item["tags"]) for item in items]
    assert sum("hard" in t for t in tags) >= 60 and sum("easy" in t for t in tags) >= 60
    seen: set[str] = set()
    for item, its_tags in zip(items, tags, strict=True):
        if "paraphrase" in its_tags:
            assert item["expected"] in seen, item
        else:
            seen.add(item["expected"])
    assert sum("paraphrase" in t for t in tags) >= 50
