"""Our own front-end code is type-checked: the canvas island is TypeScript, and the pages'
plain modules in static/js carry JSDoc types checked under `checkJs` (frontend/tsconfig.js.json),
both by `npm run typecheck` (tsc, from frontend/node_modules after `npm ci`)."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
TSC = FRONTEND / "node_modules" / ".bin" / "tsc"
# The run page's bundle (src/runPage.ts) and the flows and inbox pages.
CHECKED_PAGES = ["run_page.js", "flows.js", "inbox.js"]


def _checked_js() -> set[str]:
    config = json.loads((FRONTEND / "tsconfig.js.json").read_text())
    return {Path(p).name for p in config["include"] if p.startswith("../static/js/")}


def _imports(module: str, seen: set[str] | None = None) -> set[str]:
    """The static/js module and every module it imports, transitively."""
    seen = seen if seen is not None else set()
    if module in seen:
        return seen
    seen.add(module)
    text = (ROOT / "static" / "js" / module).read_text()
    for imported in re.findall(r'^import [^;]*? from "\./([\w.]+)";', text, re.M):
        _imports(imported, seen)
    return seen


def test_the_run_flows_and_inbox_pages_scripts_are_all_under_checkjs():
    needed = set().union(*(_imports(page) for page in CHECKED_PAGES))
    assert {"run_page.js", "run_rerun.js", "run_state.js", "api.js"} <= needed
    assert needed - _checked_js() == set()


@pytest.mark.parametrize("project", ["tsconfig.json", "tsconfig.js.json"])
def test_front_end_type_checks_clean(project):
    require_or_skip(TSC.exists(), "TypeScript is not installed (cd frontend && npm ci)")
    result = subprocess.run(
        [str(TSC), "--noEmit", "-p", project],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_page_script_is_under_checkjs():
    """A new module in static/js is type-checked from its first commit."""
    scripts = {path.name for path in (ROOT / "static" / "js").glob("*.js")}
    assert scripts - _checked_js() == set()
