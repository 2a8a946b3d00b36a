// A sub-flow or map node's inputs for the flow it calls: one template field per input of the
// called flow's published version.
import { useCallableFlows } from "../callableFlows";
import type { JsonObject } from "../types";
import { ArgumentsForm } from "./ToolPicker";

export function FlowInputs({ flow, value, onChange, readOnly, nodeId, json }: {
  flow: number | undefined;
  value: JsonObject;
  onChange: (v: JsonObject) => void;
  readOnly: boolean;
  nodeId: string;
  json: () => JSX.Element;
}) {
  const { flows } = useCallableFlows();
  const called = flows?.find((f) => f.id === flow);
  if (!called && !Object.keys(value).length) return <p className="sb-muted sb-small">Choose a flow to fill in its inputs.</p>;
  if (called && !Object.keys(called.input_schema.properties ?? {}).length) return <p className="sb-muted sb-small">{called.name} asks for no inputs.</p>;
  const asTool = called && { name: called.name, description: called.description, arguments_schema: called.input_schema, result_schema: null };
  return <ArgumentsForm tool={asTool || undefined} value={value} onChange={onChange} readOnly={readOnly} nodeId={nodeId} json={json} asText />;
}
