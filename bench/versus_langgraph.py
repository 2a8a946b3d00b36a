"""Switchboard against LangGraph on the same linear chain, step by step, both durable per step.

    .venv/bin/pip install -e '.[bench]'                 # LangGraph and its savers (bench extra)
    .venv/bin/python -m bench.versus_langgraph          # 100 nodes, 5 alternations, both DBs
    .venv/bin/python -m bench.versus_langgraph --nodes 20 --alternations 2 --databases sqlite

The chain is input → N nodes → output (N + 2 steps on both sides), in two kinds:

- tool: each node evaluates "i + 1" with Switchboard's calculator (a tool node; on the
  LangGraph side a node calling the same `evaluate`): engine + database only;
- prompt: each node makes one streamed chat completion through the openai SDK against the
  scripted model server (tests/llmserver.py) in a subprocess on 127.0.0.1, replying at once.

Switchboard runs start with `run_start` on a published flow, executed by `InlineExecutor` (every
step in the calling thread, each committed before the next is planned). LangGraph runs are
`invoke(..., durability="sync")` with `SqliteSaver` or `PostgresSaver`: every superstep's
checkpoint is written before the next starts. Both SQLite files use WAL with
synchronous=NORMAL (Switchboard's settings); both PostgreSQL sides use the same server and
database (`--postgres-url`, dropped and re-created) with autocommit connections.

The parent starts the model server and one child per database (Django is configured for its
database before import). Each child migrates, warms both sides up once, then alternates
Switchboard and LangGraph runs (who goes first alternates too) and prints, per kind:
wall ms/step, CPU ms/step (`time.process_time()` of the child: everything but the model server
runs in it), on PostgreSQL also the CPU of the database backend serving the run, the paired
Switchboard/LangGraph ratios (median [min–max] over alternations), and Switchboard's SQL
statements and commits per step (`connection.execute_wrapper`; a commit is an outermost atomic
block's commit, plus every write statement run outside one, which autocommits on its own).
The backend CPU comes from /proc at 10 ms resolution: read it over 100-node runs, not 20.

Figures (2026-12-02, 2 shared cores; LangGraph 1.2.24; medians of 5; ratio = median of the
paired Switchboard/LangGraph wall ratios; last column: Switchboard's SQL statements and commits
per step). dacfda7 (2026-12-02, two runs at load 1.0–2.2 on a box slower than the earlier
rows': LangGraph's own tool step took 2.5–3.0 ms here against 1.5 before) commits a chain step in
one round trip on PostgreSQL (conditional run lock, writes batched with BEGIN and COMMIT);
405a7f1 keeps the step's SQL (runs/services/statements.py), load 2–3; 0f19478 also
reads streamed answers as raw JSON chunks (prompt chain only, load 0.6–0.9); 8058024 is the
engine with ORM statements, load 0.4–0.9:

| engine | DB | tool: S, LG ms/step | ratio (CPU) | prompt: S, LG | ratio (CPU) | SQL, commit |
|---|---|---|---|---|---|---|
| dacfda7 | PostgreSQL | 3.35, 2.49 | 1.20× (1.40×) | 6.93, 5.86 | 1.14× (0.95×) | 6.12, 1.02 |
| dacfda7 | SQLite | 1.60, 0.86 | 1.70× (1.67×) | 4.56, 5.29 | 0.85× (0.85×) | 6.12, 1.02 |
| 0f19478 | SQLite | — | — | 2.06, 2.24 | 0.92× (0.92×) | 8.08, 1.02 |
| 0f19478 | PostgreSQL | — | — | 4.51, 3.37 | 1.33× (1.10×) | 8.08, 1.02 |
| 405a7f1 | SQLite | 0.78, 0.68 | 1.19× (1.21×) | 3.28, 2.61 | 1.22× (1.25×) | 6.12, 1.02 |
| 405a7f1 | PostgreSQL | 2.65, 1.56 | 1.74× (1.66×) | 5.51, 3.51 | 1.48× (1.34×) | 6.12, 1.02 |
| 8058024 | SQLite | 2.79, 0.79 | 3.58× (3.61×) | 8.62, 2.95 | 2.79× (2.91×) | 6.12, 1.02 |
| 8058024 | PostgreSQL | 5.01, 1.53 | 3.28× (3.79×) | 10.04, 4.07 | 2.62× (2.62×) | 6.12, 1.02 |

dacfda7's second run: PostgreSQL tool 3.71, 2.95 (1.26×), prompt 8.19, 8.72 (0.93×); SQLite
tool 1.29, 0.88 (1.43×), prompt 2.69, 3.07 (0.88×). Its prompt chain runs 8.08 statements per
step.

On PostgreSQL the backend's CPU adds 0.88 (tool) and 1.18 (prompt) ms/step for Switchboard,
0.49 and 0.59 for LangGraph (405a7f1).

0caf3af (2026-12-04, a quiet box, load 0.6-0.9), median [min-max] of 5: PostgreSQL tool 2.61,
2.23 ms/step, 1.15× [1.00-1.35] (process CPU 0.96×; backend 0.98 against 0.69 ms/step),
prompt 6.89, 7.53, 0.99× [0.82-1.12]; SQLite tool 1.46, 0.93, 1.38×, prompt 5.25, 6.29, 0.88×.
What is left on PostgreSQL is the backend's work for the rows a step writes (its row inserted
and updated, three events, a recording, the run): replayed with pgbench as one message, leaving
out the events' INSERT saved the most (0.1-0.3 of about 1.0 ms), the foreign-key checks nothing
measurable, merging the run's lock into its UPDATE nothing.

c2023ac (2026-12-04) announces a successor claimed in the same commit by `step.started` alone (no
`step.queued` at the same instant): a chain step writes two events, not three. PostgreSQL tool
chain, A/B against c0fb2b2 in the order before, after, before, after (load 1.1, the box quiet
otherwise): before 1.09× [0.92-1.45] and 1.01× [0.89-1.23]; after 0.96× [0.77-1.16] and 0.88×
[0.85-1.26]; a first run of c2023ac alone: 0.99× [0.86-1.18] (backend 0.88 against LangGraph's
0.78 ms/step; prompt chain 0.98×).
"""

from __future__ import annotations

import argparse
import collections
import gc
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._measure import (
    ModelServer,
    load_average,
    postgres_backend_cpu,
    postgres_recreate,
    spread,
    start_run,
)

DATABASE = "bench_lg"
WRITES = {"INSERT", "UPDATE", "DELETE", "REPLACE"}


@dataclass
class Sample:
    wall: float  # ms per step
    cpu: float  # ms per step, this process
    backend_cpu: float | None = None  # ms per step, the PostgreSQL backend
    sql: collections.Counter = field(default_factory=collections.Counter)  # per run
    commits: int = 0
    autocommit_writes: int = 0
    steps: int = 0


# ---- the parent: one child per database ----------------------------------------------------


def parent(args: argparse.Namespace) -> None:
    print(f"versus_langgraph: {args.nodes}-node chains, {args.alternations} alternations")
    print(f"before: {load_average()}", flush=True)
    with ModelServer(latency=0.0) as model:
        for database in args.databases.split(","):
            data_dir = tempfile.mkdtemp(prefix=f"bench-lg-{database}-")
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "SWITCHBOARD_DATA_DIR": data_dir,
                "SWITCHBOARD_EXECUTOR": "inline",
                "SWITCHBOARD_NO_LOCAL_LLM": "1",
                "SWITCHBOARD_DEFAULT_MODEL": "openai/gpt-4o-mini",
                "OPENAI_BASE_URL": model.base_url,
                "OPENAI_API_KEY": "sk-bench-not-a-real-key",
                "REDIS_URL": "",
                "LOG_LEVEL": "WARNING",
            }
            env.pop("DATABASE_URL", None)
            if database == "postgres":
                env["DATABASE_URL"] = postgres_recreate(args.postgres_url, DATABASE)
            else:
                env["SQLITE_PATH"] = os.path.join(data_dir, "switchboard.sqlite3")
            argv = [sys.executable, "-m", "bench.versus_langgraph", "--child", database,
                    "--nodes", str(args.nodes), "--alternations", str(args.alternations),
                    "--kinds", args.kinds]  # fmt: skip
            subprocess.run(argv, env=env, check=True)
    print(f"after: {load_average()}")


# ---- the child: both engines on one database -----------------------------------------------


def child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from importlib.metadata import version

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = f"PostgreSQL {cursor.fetchone()[0]}"
    else:
        import sqlite3

        server = f"SQLite {sqlite3.sqlite_version}"
    print(
        f"\n== {server}; Python {platform.python_version()}, Django {version('django')}, "
        f"langgraph {version('langgraph')}, openai {version('openai')}"
    )
    switchboard = SwitchboardChain()
    with langgraph_saver(connection.vendor) as (saver, backend_pid):
        for kind in args.kinds.split(","):
            flow = switchboard.flow(kind, args.nodes)
            graph = langgraph_chain(kind, args.nodes, saver)

            def ours(flow: Any = flow) -> Sample:
                return switchboard.run(flow)

            def theirs(graph: Any = graph) -> Sample:
                return langgraph_run(graph, args.nodes, backend_pid)

            ours(), theirs()  # warm-up: imports, caches, prepared plans, first connections
            samples: dict[str, list[Sample]] = {"switchboard": [], "langgraph": []}
            for round_ in range(args.alternations):
                order = [("switchboard", ours), ("langgraph", theirs)]
                for name, run in order if round_ % 2 == 0 else order[::-1]:
                    samples[name].append(run())
            report(kind, args, samples)
    print(f"   ({load_average()})", flush=True)


class SwitchboardChain:
    """Flows built as graph documents through the builder services, run through run_start."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model

        from runs.executor import InlineExecutor, set_executor
        from workspaces.services import workspace_create

        set_executor(InlineExecutor())
        self.user = get_user_model().objects.create_user("bench", password="bench-pw-123")
        self.workspace = workspace_create(name="Bench", slug="bench", owner=self.user)

    def flow(self, kind: str, length: int) -> Any:
        from builder.services import flow_create, flow_publish

        flow = flow_create(
            user=self.user,
            workspace_id=self.workspace.pk,
            name=f"{kind} chain",
            graph=chain_graph(kind, length),
        )
        flow_publish(flow=flow, user=self.user)
        return flow

    def run(self, flow: Any) -> Sample:
        from django.db import connections

        from runs.models import Run

        connection = connections["default"]
        counter = SqlCounter(connection)
        pid = backend_pid_of(connection)
        gc.collect()
        backend_before = postgres_backend_cpu(pid)
        cpu_before, started = time.process_time(), time.perf_counter()
        with counter.watching():
            run = start_run(user=self.user, flow=flow, inputs={}, budgets={"max_steps": 10_000})
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        backend_after = postgres_backend_cpu(pid)
        run = Run.objects.get(pk=run.pk)
        if run.status != "succeeded":
            raise SystemExit(
                f"run {run.pk} ended {run.status}: {run.error_code} {run.error_message}"
            )
        steps = run.step_count
        backend = None
        if (
            backend_before is not None
            and backend_after is not None
            and pid == backend_pid_of(connection)
        ):
            backend = (backend_after - backend_before) * 1000 / steps
        return Sample(
            wall=wall * 1000 / steps,
            cpu=cpu * 1000 / steps,
            backend_cpu=backend,
            sql=counter.statements,
            commits=counter.commits,
            autocommit_writes=counter.autocommit_writes,
            steps=steps,
        )


def chain_graph(kind: str, length: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "input", "position": {"x": 0, "y": 0},
         "config": {"schema": {"type": "object", "properties": {}}}},
    ]  # fmt: skip
    for i in range(length):
        if kind == "tool":
            config = {"tool": "calculator", "arguments": {"expression": f"{i} + 1"}}
        else:
            config = {"prompt": f"Step {i}", "max_tokens": 16}
        nodes.append(
            {"id": f"n{i}", "type": kind, "position": {"x": 200 * (i + 1), "y": 0},
             "config": config}
        )  # fmt: skip
    nodes.append(
        {"id": "end", "type": "output", "position": {"x": 200 * (length + 1), "y": 0},
         "config": {}}
    )  # fmt: skip
    edges = [
        {"id": f"e{i}", "source": a["id"], "source_port": "out", "target": b["id"],
         "target_port": "in"}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]  # fmt: skip
    return {"schema_version": 1, "nodes": nodes, "edges": edges}


class SqlCounter:
    """Count the statements a connection executes, and its transaction commits."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.statements: collections.Counter = collections.Counter()
        self.commits = 0
        self.autocommit_writes = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        self.statements[verb] += 1
        if verb in WRITES and not self.connection.in_atomic_block:
            self.autocommit_writes += 1
        return execute(sql, params, many, context)

    def watching(self) -> Any:
        import contextlib

        @contextlib.contextmanager
        def block() -> Any:
            # An outermost atomic block ends with connection.commit() (no SQL through the
            # wrapper on either backend): count those calls on this connection object.
            original = self.connection.commit

            def commit() -> None:
                self.commits += 1
                original()

            self.connection.commit = commit
            try:
                with self.connection.execute_wrapper(self):
                    yield self
            finally:
                del self.connection.commit

        return block()


def backend_pid_of(connection: Any) -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


# ---- LangGraph --------------------------------------------------------------------------------


class ChainState(TypedDict):
    n: float
    text: str


def langgraph_saver(vendor: str) -> Any:
    import contextlib

    @contextlib.contextmanager
    def opened() -> Any:
        from django.conf import settings

        if vendor == "postgresql":
            from langgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(os.environ["DATABASE_URL"]) as saver:
                saver.setup()
                pid = saver.conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
                yield saver, pid
        else:
            import sqlite3

            from langgraph.checkpoint.sqlite import SqliteSaver

            path = os.path.join(settings.DATA_DIR, "langgraph.sqlite3")
            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                saver = SqliteSaver(conn)
                saver.setup()  # journal_mode=WAL
                conn.execute("PRAGMA synchronous=NORMAL")
                yield saver, None
            finally:
                conn.close()

    return opened()


def langgraph_chain(kind: str, length: int, saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    from runs.tools.calculator import evaluate

    client = None
    if kind == "prompt":
        import openai

        client = openai.OpenAI(
            base_url=os.environ["OPENAI_BASE_URL"],
            api_key=os.environ["OPENAI_API_KEY"],
            max_retries=0,
            timeout=60.0,
        )

    def tool_node(i: int) -> Any:
        def step(state: ChainState) -> dict[str, Any]:
            return {"n": evaluate(f"{i} + 1")}

        return step

    def prompt_node(i: int) -> Any:
        def step(state: ChainState) -> dict[str, Any]:
            assert client is not None
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Step {i}"}],
                temperature=0.7,
                max_tokens=16,
                stream=True,
                stream_options={"include_usage": True},
            )
            parts = []
            with stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
            return {"text": "".join(parts)}

        return step

    builder = StateGraph(ChainState)
    builder.add_node("start", lambda state: {"n": state["n"]})
    names = ["start"]
    for i in range(length):
        builder.add_node(f"n{i}", tool_node(i) if kind == "tool" else prompt_node(i))
        names.append(f"n{i}")
    builder.add_node("end", lambda state: {"text": state["text"]})
    names.append("end")
    builder.add_edge(START, "start")
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge("end", END)
    return builder.compile(checkpointer=saver)


def langgraph_run(graph: Any, length: int, backend_pid: int | None) -> Sample:
    steps = length + 2
    config = {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": steps + 10}
    gc.collect()
    backend_before = postgres_backend_cpu(backend_pid)
    cpu_before, started = time.process_time(), time.perf_counter()
    graph.invoke({"n": 0, "text": ""}, config, durability="sync")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    backend_after = postgres_backend_cpu(backend_pid)
    backend = None
    if backend_before is not None and backend_after is not None:
        backend = (backend_after - backend_before) * 1000 / steps
    return Sample(wall=wall * 1000 / steps, cpu=cpu * 1000 / steps, backend_cpu=backend,
                  steps=steps)  # fmt: skip


# ---- report -----------------------------------------------------------------------------------


def report(kind: str, args: argparse.Namespace, samples: dict[str, list[Sample]]) -> None:
    ours, theirs = samples["switchboard"], samples["langgraph"]
    print(f"-- {kind} chain: {ours[0].steps} steps per run, {len(ours)} alternations "
          f"(ms per step, median [min–max])")  # fmt: skip
    for name, runs in samples.items():
        line = (
            f"   {name:<12} wall {spread([s.wall for s in runs])} ms/step   "
            f"CPU {spread([s.cpu for s in runs])} ms/step"
        )
        backend = [s.backend_cpu for s in runs if s.backend_cpu is not None]
        if backend:
            line += f"   + PostgreSQL backend CPU {spread(backend)} ms/step"
        print(line)
    pairs = list(zip(ours, theirs, strict=True))
    ratio_line = (
        f"   {'ratio S/LG':<12} wall {spread([a.wall / b.wall for a, b in pairs])}×   "
        f"CPU {spread([a.cpu / b.cpu for a, b in pairs])}×"
    )
    if all(a.backend_cpu and b.backend_cpu for a, b in pairs):
        totals = [(a.cpu + a.backend_cpu) / (b.cpu + b.backend_cpu) for a, b in pairs]
        ratio_line += f"   CPU incl. backend {spread(totals)}×"
    print(ratio_line)
    sample = ours[-1]
    sql = collections.Counter(sample.sql)
    # SQLite's BEGIN IMMEDIATE passes the wrapper; psycopg's implicit BEGIN does not: leave it
    # out of the total so both backends count the same statements.
    begins = sql.pop("BEGIN", 0)
    per_step = {verb: count / sample.steps for verb, count in sql.most_common()}
    total = sum(sql.values()) / sample.steps
    commits = (sample.commits + sample.autocommit_writes) / sample.steps
    print(
        f"   switchboard SQL: {total:.2f} statements/step ("
        + ", ".join(f"{verb} {n:.2f}" for verb, n in per_step.items())
        + (f"; + BEGIN {begins / sample.steps:.2f}" if begins else "")
        + f"); {commits:.2f} commits/step ({sample.commits / sample.steps:.2f} atomic blocks + "
        f"{sample.autocommit_writes / sample.steps:.2f} autocommitted writes)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100, help="chain length (working nodes)")
    parser.add_argument("--alternations", type=int, default=5, help="A/B pairs per kind")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--kinds", default="tool,prompt", help="tool,prompt")
    parser.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432",
        help=f"server to create the {DATABASE} database on",
    )
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    for option, given, known in (
        ("--databases", args.databases, ("sqlite", "postgres")),
        ("--kinds", args.kinds, ("tool", "prompt")),
    ):
        unknown = [name for name in given.split(",") if name not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(known)})")
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
