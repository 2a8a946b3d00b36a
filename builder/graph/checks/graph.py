"""The structural checks: node types and configs, edges and ports, the flow's ends, loops and
what the run reaches. References and shapes are checked in `references` and `shapes`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from runs.engine.catalogue import tier_rank
from runs.engine.nodes import NODE_TYPES, NodeConfig, NodeType
from runs.engine.nodes.base import duration_seconds
from runs.engine.nodes.checks import REMOTE_REF_ERROR
from runs.engine.nodes.router import RouterConfig
from runs.tools import registry as tool_registry

from ..document import (
    MAX_NODE_CONFIG_BYTES,
    GraphEdge,
    GraphError,
    GraphNode,
    ParsedGraph,
    graph_size,
)
from ..topology import Ancestry, Descendants, breadth_first_order, closing_edge, reachable
from .messages import plain_message
from .references import ReferenceChecks
from .shapes import OutputShapes

# Node-type capabilities the checks ask about (never a type's slug).
INPUTS = attrgetter("provides_inputs")
RESULT = attrgetter("produces_result")
ROUTES = attrgetter("dynamic_outputs")
RETRIES = attrgetter("retry_port")


def config_errors(node: GraphNode, node_type: type[NodeType]) -> tuple[NodeConfig | None, list]:
    try:
        return node_type.Config.model_validate(node.config), []
    except ValidationError as exc:
        errors = []
        for err in exc.errors()[:20]:
            where = ".".join(str(part) for part in err["loc"])
            text = plain_message(err, node_type)
            code = "graph.E021" if err["type"] == REMOTE_REF_ERROR else "graph.E003"
            errors.append(GraphError(code, text, node_id=node.id, field=where or None))
        return None, errors
    except RecursionError:
        return None, [GraphError("graph.E003", "Configuration is nested too deeply.", node.id)]


class GraphChecker(ReferenceChecks):
    """Holds one graph's indexes while the checks run.

    Every check is linear in the graph's size: the indexes (nodes by type, accepted edges, their
    adjacency) are built once and shared, and no check scans all edges once per node.
    """

    def __init__(
        self,
        graph: ParsedGraph,
        credentials: Callable[[], AbstractSet[str]] | None = None,
        catalogue: Callable[[], list[Any]] | None = None,
    ):
        self.graph = graph
        # The workspace's models (CatalogueModel), asked only if a node routes automatically
        # (None: unknown; candidates and tiers are not checked then).
        self.catalogue = catalogue
        # The workspace's credential names, asked only if a template reads one (None: unknown,
        # e.g. a graph checked outside any workspace; the names are not checked then).
        self.credentials = credentials
        self.secret_refs: list[tuple[str, str, frozenset[str]]] = []
        self.errors: list[GraphError] = []
        self.nodes: dict[str, GraphNode] = {}
        self.types: dict[str, type[NodeType]] = {}
        self.by_type: dict[str, list[str]] = defaultdict(list)
        self.configs: dict[str, NodeConfig] = {}
        # Edges that passed their own checks; the structural checks run over these only.
        self.edges: list[GraphEdge] = []
        # Nodes the run reaches from the Input (None without one): only their ancestry is known.
        self.reached: set[str] | None = None
        # Where refused edges were headed: those nodes' disconnection is already explained.
        self.broken_into: set[str] = set()
        # (node, port) pairs some edge leaves from, refused or not (a route is not "unused"
        # just because the node at its other end is missing).
        self.attempted_out: set[tuple[str, str]] = set()
        self._successors: dict[str, list[str]] | None = None
        self._output_ports: dict[str, list[str]] = {}
        # What `nodes.<name>` in a template may name: every node id, and each node's key.
        self.named: dict[str, str] = {}

    def add(self, code: str, message: str, **where: Any) -> None:
        self.errors.append(GraphError(code, message, **where))

    def run(self) -> list[GraphError]:
        self.check_nodes()
        self.check_keys()
        self.check_edges()
        self.check_endpoints()
        self.check_failure_policies()
        retry_edges = self.retry_edges()
        ancestry = Ancestry(list(self.nodes), self.successors(exclude=retry_edges))
        self.check_cycles(ancestry, retry_edges)
        self.check_connected()
        shapes = OutputShapes(self, ancestry, retry_edges)
        self.check_references(ancestry, shapes)
        self.check_credentials()
        self.check_routing()
        self.check_designs()
        self.check_semantic_cache()
        shapes.check_ports()
        return self.errors

    def check_designs(self) -> None:
        """Report what each node type finds unworkable in its configuration (`design_problems`)."""
        tool_names = frozenset(tool_registry.names())
        for node_id, config in self.configs.items():
            for code, message, field in self.types[node_id].design_problems(config, tool_names):
                self.add(code, message, node_id=node_id, field=field)

    def check_semantic_cache(self) -> None:
        """Report cached nodes that may call a tool with side effects: a hit would skip it."""
        from runs.tools import registry

        for node_id, config in self.configs.items():
            node_type = self.types[node_id]
            if not node_type.answers_from_cache(config):
                continue
            for name, _arguments in node_type.tool_calls(config, None):
                tool = registry.get(name) if name in registry else None
                if tool is not None and tool.idempotent is not True:
                    self.add(
                        "graph.E075",
                        f'semantic_cache: the tool "{name}" may change something (it is not '
                        "idempotent), and a cached answer would skip that call. Turn the "
                        "semantic cache off, or leave the tool out.",
                        node_id=node_id,
                        field="semantic_cache",
                    )

    def check_routing(self) -> None:
        """Report automatic model choices that can't choose: no models, unknown candidates, a
        highest tier below every candidate."""
        routed = [
            (node_id, spec)
            for node_id, config in self.configs.items()
            if (spec := self.types[node_id].routing(config)) is not None
        ]
        if not routed or self.catalogue is None:
            return
        models = {m.name: m for m in self.catalogue()}
        for node_id, spec in routed:
            if not models:
                self.add(
                    "graph.E050",
                    "model: auto picks among the workspace's models, but there are none. Add a "
                    "model provider under Settings → Model providers, or choose a model.",
                    node_id=node_id,
                    field="model",
                )
                continue
            unknown = [name for name in spec["candidates"] if name not in models]
            for name in unknown:
                self.add(
                    "graph.E051",
                    f'candidates: "{name}" is not a model of this workspace. Write it as '
                    "provider/model, e.g. " + next(iter(models)) + ".",
                    node_id=node_id,
                    field="candidates",
                )
            pool = [models[n] for n in spec["candidates"] if n in models] or (
                [] if spec["candidates"] else list(models.values())
            )
            ceiling = spec["max_tier"]
            if ceiling and pool and all(m.rank > tier_rank(ceiling) for m in pool):
                lowest = min(pool, key=lambda m: m.rank)
                self.add(
                    "graph.E052",
                    f"max_tier: {ceiling} is below every candidate model (the smallest is "
                    f"{lowest.name}, {lowest.tier}). Raise the highest tier or add a "
                    f"{ceiling} model.",
                    node_id=node_id,
                    field="max_tier",
                )

    def check_nodes(self) -> None:
        for node in self.graph.nodes:
            if node.id in self.nodes:
                self.add("graph.E004", f'Two nodes have the id "{node.id}".', node_id=node.id)
                continue
            self.nodes[node.id] = node
            self.named[node.id] = node.id
            node_type = NODE_TYPES.get(node.type)
            if node_type is None:
                known = ", ".join(sorted(NODE_TYPES))
                self.add(
                    "graph.E002",
                    f'Unknown node type "{node.type}". Known types: {known}.',
                    node_id=node.id,
                )
                continue
            self.types[node.id] = node_type
            self.by_type[node_type.type].append(node.id)
            if graph_size(node.config) > MAX_NODE_CONFIG_BYTES:
                self.add("graph.E017", "Configuration is larger than 256 KB.", node_id=node.id)
                continue
            config, errors = config_errors(node, node_type)
            self.errors.extend(errors)
            if config is not None:
                self.configs[node.id] = config

    def check_keys(self) -> None:
        """Give each node's key its node; a key already naming another node is refused."""
        for node_id, node in self.nodes.items():
            key = node.key
            if not key or key == node_id:
                continue
            if key in self.named:
                other = self.nodes[self.named[key]]
                self.add(
                    "graph.E025",
                    f'The reference name "{key}" is already used by "{other.label or other.id}";'
                    " give this node another one.",
                    node_id=node_id,
                    field="key",
                )
                continue
            self.named[key] = node_id

    def check_edges(self) -> None:
        seen: set[str] = set()
        for edge in self.graph.edges:
            if edge.id in seen:
                self.add("graph.E005", f'Two edges have the id "{edge.id}".', edge_id=edge.id)
                self.broken_into.add(edge.target)
                continue
            seen.add(edge.id)
            if edge.source in self.nodes:
                self.attempted_out.add((edge.source, edge.source_port))
            missing = [end for end in (edge.source, edge.target) if end not in self.nodes]
            if missing:
                self.add(
                    "graph.E006",
                    f'Edge connects to a node that does not exist: "{missing[0]}".',
                    edge_id=edge.id,
                )
                self.broken_into.add(edge.target)
                continue
            if self.port_errors(edge):
                self.broken_into.add(edge.target)
                continue
            self.edges.append(edge)

    def port_errors(self, edge: GraphEdge) -> bool:
        bad = False
        source_type = self.types.get(edge.source)
        # A router's ports come from its routes: unknown while its config is invalid.
        ports_known = source_type is not None and (
            edge.source in self.configs or not source_type.dynamic_outputs
        )
        if source_type is not None and ports_known:
            ports = self._output_ports.get(edge.source)
            if ports is None:
                ports = source_type.output_ports(self.configs.get(edge.source))
                self._output_ports[edge.source] = ports
            if edge.source_port not in ports and edge.source_port == "error":
                label = self.nodes[edge.source].label or edge.source
                self.add(
                    "graph.E030",
                    f'"{label}" has no Error port: {_no_error_port(source_type)}',
                    edge_id=edge.id,
                    node_id=edge.source,
                )
                bad = True
            elif edge.source_port not in ports:
                self.add(
                    "graph.E007",
                    f'"{edge.source}" has no output port "{edge.source_port}"'
                    f" (it has: {', '.join(ports) or 'none'}).",
                    edge_id=edge.id,
                    node_id=edge.source,
                )
                bad = True
        target_type = self.types.get(edge.target)
        if target_type is not None:
            ports = target_type.input_ports()
            if edge.target_port not in ports:
                self.add(
                    "graph.E007",
                    f'"{edge.target}" has no input port "{edge.target_port}"'
                    f" (it has: {', '.join(ports) or 'none'}).",
                    edge_id=edge.id,
                    node_id=edge.target,
                )
                bad = True
        return bad

    def having(self, capability: Callable[[type[NodeType]], Any]) -> list[str]:
        """The nodes whose type declares `capability` (e.g. holds the run's inputs)."""
        return [
            node_id
            for slug, ids in self.by_type.items()
            if capability(NODE_TYPES[slug])
            for node_id in ids
        ]

    def check_endpoints(self) -> None:
        inputs = self.having(INPUTS)
        if not inputs:
            self.add("graph.E008", "The flow needs an Input node to start from.")
        for extra in inputs[1:]:
            self.add("graph.E019", "A flow has exactly one Input node.", node_id=extra)
        if not self.having(RESULT):
            self.add("graph.E009", "The flow needs an Output node to produce a result.")
        for router_id in self.having(ROUTES):
            config = self.configs.get(router_id)
            if not isinstance(config, RouterConfig):
                continue
            for route in config.routes:
                if (router_id, route.name) not in self.attempted_out:
                    self.add(
                        "graph.E012",
                        f'Route "{route.name}" has no outgoing edge.',
                        node_id=router_id,
                        field=f"routes.{route.name}",
                    )

    def check_failure_policies(self) -> None:
        """A node's on-failure policy must be one its type and mode can use, and `branch`
        needs somewhere to go."""
        for node_id, config in self.configs.items():
            self.check_task_timing(node_id, config)
            chosen = getattr(config, "on_failure", "fail")
            if chosen == "fail":
                continue
            node_type = self.types[node_id]
            label = self.nodes[node_id].label or node_id
            if not node_type.can_fail(config):
                self.add(
                    "graph.E032",
                    f'"{label}" cannot fail in this mode, so "On failure: {chosen}" would never '
                    f"apply. {_no_error_port(node_type)} Set On failure back to fail.",
                    node_id=node_id,
                    field="on_failure",
                )
                continue
            port = node_type.error_port
            if (
                chosen == "branch"
                and port is not None
                and (node_id, port.name) not in self.attempted_out
            ):
                self.add(
                    "graph.E031",
                    f'"{label}" is set to take its Error port when it fails, but nothing is '
                    "connected to that port. Connect it to the step that handles the error, "
                    "or choose another On failure setting.",
                    node_id=node_id,
                    field="on_failure",
                )

    def check_task_timing(self, node_id: str, config: NodeConfig) -> None:
        """A person's task (or an approval) expires and reminds in a way that can happen: only
        when a person is asked, the reminder before the expiry, a timeout branch to go down."""
        timeout = duration_seconds(getattr(config, "fallback_timeout", ""))
        remind = duration_seconds(getattr(config, "fallback_remind_after", ""))
        field = "fallback_remind_after"
        if hasattr(config, "remind_after"):
            timeout = getattr(config, "timeout_seconds", None)
            remind, field = duration_seconds(config.remind_after), "remind_after"
        asks = getattr(config, "on_failure", "ask") == "ask"
        if not asks and (timeout or remind):
            self.add(
                "graph.E076",
                "The task's expiry and reminder only apply when a person is asked: set On "
                "failure to ask, or clear Task expires after and Remind after.",
                node_id=node_id,
                field="fallback_timeout" if timeout else "fallback_remind_after",
            )
            return
        if timeout and remind and remind >= timeout:
            self.add(
                "graph.E077",
                "The reminder would come after the task expires, so it would never be sent: "
                "make Remind after shorter than the expiry.",
                node_id=node_id,
                field=field,
            )
        port = self.types[node_id].error_port
        if (
            asks
            and timeout
            and getattr(config, "fallback_timeout_action", "fail") == "branch"
            and port is not None
            and (node_id, port.name) not in self.attempted_out
        ):
            self.add(
                "graph.E078",
                "An expired task is to take the Error port, but nothing is connected to it. "
                "Connect the Error port, or let an expired task fail the step.",
                node_id=node_id,
                field="fallback_timeout_action",
            )

    def successors(self, exclude: set[str] | None = None) -> dict[str, list[str]]:
        """Return each node's targets along the accepted edges, without the `exclude` ids."""
        if not exclude and self._successors is not None:
            return self._successors
        out: dict[str, list[str]] = defaultdict(list)
        for edge in self.edges:
            if not exclude or edge.id not in exclude:
                out[edge.source].append(edge.target)
        if not exclude:
            self._successors = out
        return out

    def retry_edges(self) -> set[str]:
        """Evaluator fail edges that go back to a node the evaluator depends on.

        The engine's rule: the evaluator is reachable from the edge's target without using any
        fail edge. Other fail edges are ordinary forward branches.
        """
        retry_ports = {node_id: self.types[node_id].retry_port for node_id in self.having(RETRIES)}
        fail_edges = [e for e in self.edges if retry_ports.get(e.source) == e.source_port]
        if not fail_edges:
            return set()
        forward = self.successors(exclude={e.id for e in fail_edges})
        # One reachability pass for all of them, not one walk per fail edge.
        region = reachable([e.target for e in fail_edges], forward)
        reach = Descendants(list(region), forward)
        return {e.id for e in fail_edges if reach.reaches(e.target, e.source)}

    def check_cycles(self, ancestry: Ancestry, retry_edges: set[str]) -> None:
        """Report each unbounded loop once, on the edge that leads back into it."""
        order = breadth_first_order(self.having(INPUTS), self.successors())
        rank = {node_id: i for i, node_id in reversed(list(enumerate([*order, *self.nodes])))}
        component_of = ancestry.component_of
        # Each component's own edges, gathered in one pass over the edges.
        inside: dict[int, dict[str, list[tuple[str, str]]]] = {}
        for edge in self.edges:
            # An unknown type's ports mean nothing yet: its edges cannot prove a loop.
            if edge.id in retry_edges or edge.source not in self.types:
                continue
            component = component_of[edge.source]
            if component_of[edge.target] == component:
                out_edges = inside.setdefault(component, defaultdict(list))
                out_edges[edge.source].append((edge.id, edge.target))
        for i, members in enumerate(ancestry.components):
            if i not in inside:
                continue
            found = closing_edge(sorted(members, key=rank.__getitem__), inside[i])
            if found is not None:
                self.add(
                    "graph.E011",
                    "This edge closes a loop. Loops must go back through an Evaluator's fail "
                    "port, which bounds them by max attempts.",
                    edge_id=found[0],
                    node_id=found[1],
                )

    def check_connected(self) -> None:
        """Report nodes the run can never reach, once per cause rather than once per node.

        A node nothing leads into gets E013 on its unconnected port (or E010 if it has no
        ports); the nodes after it are not reported again. A loop that nothing leads into gets
        E010 once. Nodes a refused edge was meant to feed are already explained by that edge.
        """
        inputs = self.having(INPUTS)
        if not inputs:
            return  # E008 already says it: without a start, everything is unreachable.
        successors = self.successors()
        self.reached = reached = reachable(inputs, successors)
        connected = {(e.target, e.target_port) for e in self.edges}
        for node_id in self.nodes:
            if node_id in reached:
                self.check_ports(node_id, connected)
        unreached = [n for n in self.nodes if n not in reached]
        fed = {e.target for e in self.edges if e.source not in reached}
        # Nodes nothing leads into first, then what is left: loops nothing leads into.
        starts = [n for n in unreached if n not in fed] + [n for n in unreached if n in fed]
        if not starts:
            return
        # What each start cuts off, as bitsets from one pass (not one walk per start).
        cut_off = Descendants(list(reachable(starts, successors)), successors)
        covered = 0
        for node_id in sorted(starts, key=lambda n: n not in self.broken_into):
            if covered & cut_off.bit[node_id]:
                continue
            reach = cut_off.of(node_id)
            covered |= reach
            if node_id in self.broken_into or self.check_ports(node_id, connected):
                continue
            after = reach.bit_count() - 1
            more = f" The {after} node(s) after it are cut off too." if after else ""
            self.add(
                "graph.E010", f"Nothing connects this node to the Input.{more}", node_id=node_id
            )

    def check_ports(self, node_id: str, connected: set[tuple[str, str]]) -> bool:
        """Report the node's required input ports that no edge reaches; True if any."""
        node_type = self.types.get(node_id)
        missing = [
            port
            for port in (node_type.inputs if node_type else ())
            if port.required and (node_id, port.name) not in connected
        ]
        for port in missing:
            self.add(
                "graph.E013",
                f'Input port "{port.label}" is not connected.',
                node_id=node_id,
                field=port.name,
            )
        return bool(missing)


def _no_error_port(node_type: type[NodeType]) -> str:
    """Say in plain words when a type has an Error port."""
    if node_type.error_port is None:
        return f"a {node_type.label} node does not fail on its own, so it has no Error port."
    when = " and ".join(
        f"its {name.replace('_', ' ')} is “{value}”"
        for name, value in node_type.error_port_when.items()
    )
    return f"a {node_type.label} node can fail, and has an Error port, only when {when}."
