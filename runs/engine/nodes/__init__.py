"""The node-type registry, keyed by stable slug. Saved graphs refer to these slugs."""

from .agent import AgentNode
from .approval import ApprovalNode
from .base import NodeConfig, NodeError, NodeResult, NodeType, Port
from .evaluator import EvaluatorNode
from .flow import FlowNode
from .input import InputNode
from .map import MapNode
from .memory import MemoryNode
from .output import OutputNode
from .prompt import PromptNode
from .retrieve import RetrieveNode
from .router import RouterNode
from .tool import ToolNode

NODE_TYPES: dict[str, type[NodeType]] = {
    node_type.type: node_type
    for node_type in (
        InputNode,
        PromptNode,
        AgentNode,
        ToolNode,
        RetrieveNode,
        MemoryNode,
        RouterNode,
        EvaluatorNode,
        ApprovalNode,
        FlowNode,
        MapNode,
        OutputNode,
    )
}

__all__ = ["NODE_TYPES", "NodeConfig", "NodeError", "NodeResult", "NodeType", "Port"]
