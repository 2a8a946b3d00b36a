"""Reference checks: every template and data path reads data that exists when the node runs.

A reference names a node by its id or its key, and that node must run before the reader (E014);
the path after it must be one the node's output can have (E022, read through the output shapes
of `shapes`); a value handed to a tool must be of a type the tool accepts (E023).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from runs.engine.nodes import NodeConfig, NodeType
from runs.engine.nodes.input import InputConfig
from runs.engine.secrets import SECRET_ROOT
from runs.engine.shapes import Miss, accepts, describe, field_names, read, show_path
from runs.engine.templates import TEMPLATE_ROOTS, DataPath, path_parts

from ..templates import PLAIN_SECRET, TemplateRefs, template_refs

if TYPE_CHECKING:
    from ..document import GraphEdge, GraphError, GraphNode
    from ..topology import Ancestry
    from .shapes import OutputShapes

INPUTS = attrgetter("provides_inputs")


class ReferenceChecks:
    """The reference checks of GraphChecker (they read its indexes)."""

    errors: list[GraphError]
    nodes: dict[str, GraphNode]
    named: dict[str, str]
    types: dict[str, type[NodeType]]
    configs: dict[str, NodeConfig]
    edges: list[GraphEdge]
    reached: set[str] | None
    credentials: Callable[[], AbstractSet[str]] | None
    secret_refs: list[tuple[str, str, frozenset[str]]]

    def add(self, code: str, message: str, **where: Any) -> None: ...

    def having(self, capability: Callable[[type[NodeType]], Any]) -> list[str]: ...

    def input_names(self) -> set[str] | None:
        """Return the run inputs' names, or None when any name may be given."""
        inputs = self.having(INPUTS)
        config = self.configs.get(inputs[0]) if inputs else None
        if not isinstance(config, InputConfig):
            return None
        schema = config.schema_
        # Listed properties close the set unless the schema explicitly allows more.
        if "properties" not in schema or schema.get("additionalProperties") not in (None, False):
            return None
        return set(config.field_names())

    def check_references(self, ancestry: Ancestry, shapes: OutputShapes) -> None:
        input_names = self.input_names()
        for node_id, config in self.configs.items():
            node_type = self.types[node_id]
            for field_name, text in node_type.templates(config):
                refs = self.check_template(node_id, field_name, text, ancestry, input_names, shapes)
                if refs is not None and SECRET_ROOT in refs.roots:
                    self.check_secret_use(node_id, node_type, field_name, text, refs.secrets)
            for field_name, path in node_type.references(config):
                parts = path_parts(path)
                root = parts[0] if parts else ""
                if root == "nodes" and len(parts) >= 2:
                    if self.check_node_refs(node_id, field_name, {parts[1]}, ancestry):
                        self.check_paths(node_id, field_name, [tuple(parts)], shapes)
                elif root == "inputs" and len(parts) >= 2:
                    self.check_input_refs(node_id, field_name, {parts[1]}, input_names)
                    self.check_paths(node_id, field_name, [tuple(parts)], shapes)
                elif root not in ("feedback", "iteration"):
                    self.add(
                        "graph.E014",
                        f'{field_name}: "{path}" must start with inputs.<name> or nodes.<name>.',
                        node_id=node_id,
                        field=field_name,
                    )
            if node_id in shapes.checked:
                self.check_types(node_id, node_type, config, shapes)

    def check_template(
        self,
        node_id: str,
        field: str,
        text: str,
        ancestry: Ancestry,
        input_names: set[str] | None,
        shapes: OutputShapes,
    ) -> TemplateRefs | None:
        # Templates are parsed, never rendered: validation executes nothing a user wrote.
        try:
            refs = template_refs(text)
        except RecursionError:
            self.add(
                "graph.E020", f"{field}: expressions nest too deeply.", node_id=node_id, field=field
            )
            return None
        if refs.syntax_error:
            self.add("graph.E020", f"{field}: {refs.syntax_error}", node_id=node_id, field=field)
            return None
        for root in sorted(refs.roots - TEMPLATE_ROOTS):
            self.add(
                "graph.E014",
                f'{field}: "{root}" is not available. Use inputs.<name>, '
                "nodes.<name>.output, feedback or iteration.",
                node_id=node_id,
                field=field,
            )
        good = self.check_node_refs(node_id, field, refs.nodes, ancestry)
        self.check_input_refs(node_id, field, refs.inputs, input_names)
        if refs.paths:
            paths = [p for p in refs.paths if p[0] == "inputs" or p[1] in good]
            self.check_paths(node_id, field, paths, shapes)
        return refs

    def check_secret_use(
        self,
        node_id: str,
        node_type: type[NodeType],
        field: str,
        text: str,
        names: frozenset[str],
    ) -> None:
        if not node_type.uses_secrets:
            self.add(
                "graph.E027",
                f"{field}: credentials (secrets.<name>) can only be used in the arguments of a "
                f"Tool node, never in a {node_type.label} node.",
                node_id=node_id,
                field=field,
            )
            return
        # A value is redacted from the records by value: it must go out as it is, never cut,
        # changed by a filter or tested (each would put a form of it in the records).
        rest = PLAIN_SECRET.sub("", text)
        if SECRET_ROOT in template_refs(rest).roots:
            self.add(
                "graph.E028",
                f"{field}: insert a credential as it is, {{{{ secrets.<name> }}}}, with no "
                "filter, slice, test or operation on it.",
                node_id=node_id,
                field=field,
            )
        self.secret_refs.append((node_id, field, names))

    def check_credentials(self) -> None:
        """Report credentials that templates name but the workspace does not have."""
        if not self.secret_refs or self.credentials is None:
            return
        known = self.credentials()
        for node_id, field, names in self.secret_refs:
            for name in sorted(names - known):
                self.add(
                    "graph.E026",
                    f'{field}: there is no credential called "{name}" in this workspace. Add '
                    "it under Settings → Credentials, or fix the name.",
                    node_id=node_id,
                    field=field,
                )

    def check_node_refs(
        self, node_id: str, field: str, refs: Iterable[str], ancestry: Ancestry
    ) -> set[str]:
        """Report references to nodes that don't exist or don't run before this one; return
        the names whose paths can be checked further."""
        good = set()
        for ref in sorted(refs):
            target = self.named.get(ref)
            if target is None:
                message = f'{field}: there is no node "{ref}".'
            elif self.reached is not None and node_id not in self.reached:
                continue  # Its connection is already reported; what runs before it is unknown.
            elif not ancestry.is_upstream(target, node_id):
                message = f'{field}: "{self.title(target)}" does not run before this node.'
            else:
                good.add(ref)
                continue
            self.add("graph.E014", message, node_id=node_id, field=field)
        return good

    def check_input_refs(
        self, node_id: str, field: str, refs: AbstractSet[str], names: set[str] | None
    ) -> None:
        if names is None:
            return
        for ref in sorted(refs - names):
            self.add(
                "graph.E014",
                f'{field}: the Input node has no field "{ref}".',
                node_id=node_id,
                field=field,
            )

    def check_paths(
        self, node_id: str, field: str, paths: Sequence[DataPath], shapes: OutputShapes
    ) -> None:
        """Report each path that the data it reads can't have (E022), once per field."""
        if node_id not in shapes.checked:
            return
        for path in sorted(paths, key=str):
            root, name, rest = path[0], str(path[1]), path[2:]
            if root == "nodes":
                source = self.named[name]
                found = read(shapes.entry(source), rest)
                what, offset = f'"{self.title(source)}"', 2
            else:
                found = read(shapes.inputs, (name, *rest))
                if isinstance(found, Miss) and found.index == 0:
                    continue  # an unknown input: E014 says so
                what, offset = "the Input", 1
            if isinstance(found, Miss):
                self.add(
                    "graph.E022",
                    _missing_field(field, what, path, offset, found),
                    node_id=node_id,
                    field=field,
                )
                return

    def check_types(
        self, node_id: str, node_type: type[NodeType], config: NodeConfig, shapes: OutputShapes
    ) -> None:
        """Report template values of a type where they are used that can't fit (E023)."""
        scope = shapes.scope(node_id)
        for field, text, expected in node_type.typed_templates(config, scope):
            actual = scope.value(text)
            if not accepts(expected, actual):
                self.add(
                    "graph.E023",
                    f"{field}: this needs {describe(expected)}, but the value given is "
                    f"{describe(actual)}.",
                    node_id=node_id,
                    field=field,
                )

    def title(self, node_id: str) -> str:
        node = self.nodes[node_id]
        return node.label or node.id


def _missing_field(field: str, what: str, path: DataPath, offset: int, miss: Miss) -> str:
    """Say which part of a path can't be read, and what is there instead.

    `offset` is where the path inside the shape begins (after nodes.<name>, or after inputs).
    """
    place = show_path(path[: offset + miss.index])
    missing = path[offset + miss.index]
    known = field_names(miss.found)
    if known:
        listed = ", ".join(known[:12])
        return f'{field}: {place} has no field "{missing}"; {what} gives an object with: {listed}.'
    return (
        f'{field}: {place} is {describe(miss.found)}, so it has no field "{missing}". '
        f"Check the output format of {what}."
    )
