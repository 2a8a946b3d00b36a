// The pickers of the fields that name other flows: a sub-flow or map node's flow and version,
// and the flows a prompt or agent offers as tools. Loaded when a node with one is first
// inspected, so opening the editor does not download them.
import type { Json } from "../../types";
import { FlowPicker, FlowVersionPicker } from "../FlowPicker";
import { type FlowTool, FlowToolsPicker } from "../FlowToolsPicker";
import type { FlowPickerProps } from "./widgets";

export default function FlowPickers({ widget, id, value, onChange, readOnly, siblings, problems, kind, optional }: FlowPickerProps) {
  const flow = typeof siblings.flow === "number" ? siblings.flow : undefined;
  // A flow that may be left out (a map's): without one, the node runs the steps inside it.
  const none = optional ? "None: run the steps inside it" : undefined;
  if (widget === "flow") return <FlowPicker id={id} value={typeof value === "number" ? value : null} onChange={onChange} readOnly={readOnly} none={none} />;
  if (widget === "flow-version") return <FlowVersionPicker id={id} flow={flow} value={typeof value === "number" ? value : null} onChange={onChange} readOnly={readOnly} />;
  const tools = Array.isArray(siblings.tools) ? siblings.tools.map(String) : [];
  const searches = kind === "agent" && Array.isArray(siblings.knowledge_bases) && siblings.knowledge_bases.length > 0;
  return (
    <FlowToolsPicker
      id={id}
      value={Array.isArray(value) ? (value as unknown as FlowTool[]) : []}
      onChange={onChange as (v: Json) => void}
      readOnly={readOnly}
      problems={problems}
      max={10}
      builtins={searches ? [...tools, "search_knowledge"] : tools}
    />
  );
}
