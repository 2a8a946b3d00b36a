// The sub-flow node's pickers: a published flow of the workspace (GET /api/flows/callable),
// which of its published versions to call, and its inputs as template fields.
import { useContext, useEffect, useState } from "react";
import { api } from "../api";
import { InspectorContext } from "../context";
import type { JsonObject, JsonSchema } from "../types";
import { ArgumentsForm } from "./ToolPicker";

export interface CallableFlow {
  id: number;
  name: string;
  description: string;
  versions: number[];
  input_schema: JsonSchema;
}

const cache = new Map<string, Promise<CallableFlow[]>>();

/** The flows a sub-flow node may call (null while loading), with the load error if any. */
export function useCallableFlows(): { flows: CallableFlow[] | null; error: string } {
  const { workspaceId, flowId } = useContext(InspectorContext);
  const [flows, setFlows] = useState<CallableFlow[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (workspaceId == null) return;
    const path = `/flows/callable?workspace=${workspaceId}${flowId ? `&exclude=${flowId}` : ""}`;
    let promise = cache.get(path);
    if (!promise) {
      promise = api<CallableFlow[]>("GET", path);
      promise.catch(() => cache.delete(path));
      cache.set(path, promise);
    }
    let live = true;
    promise.then(
      (found) => live && setFlows(found),
      (e: Error) => live && setError(`The flows could not be listed: ${e.message}`),
    );
    return () => {
      live = false;
    };
  }, [workspaceId, flowId]);
  return { flows, error };
}

export function FlowPicker({ id, value, onChange, readOnly }: { id: string; value: number | null; onChange: (v: number | undefined) => void; readOnly: boolean }) {
  const { flows, error } = useCallableFlows();
  const current = flows?.find((f) => f.id === value);
  if (error) {
    return (
      <div className="sb-flow-picker">
        <input id={id} type="number" min={1} className="sb-input" value={value ?? ""} readOnly={readOnly} placeholder="The flow's number" onChange={(e) => onChange(e.target.value ? Number(e.target.value) : undefined)} />
        <div className="sb-field-problem">{error}</div>
      </div>
    );
  }
  return (
    <div className="sb-flow-picker">
      <select id={id} className="sb-input" value={value ?? ""} disabled={readOnly || !flows} onChange={(e) => onChange(e.target.value ? Number(e.target.value) : undefined)}>
        <option value="">{!flows ? "Loading flows…" : flows.length ? "Choose a flow…" : "No published flow to call"}</option>
        {value != null && flows && !current && <option value={value}>Flow {value} (not a published flow of this workspace)</option>}
        {flows?.map((f) => (
          <option key={f.id} value={f.id}>
            {f.name} · v{f.versions[0]}
          </option>
        ))}
      </select>
      {current && (
        <p className="sb-field-hint" data-flow-description>
          {current.description || "No description."}{" "}
          <a href={`/flows/${current.id}/`} target="_blank" rel="noopener">
            Open it
          </a>
        </p>
      )}
      {flows && !flows.length && <p className="sb-field-hint">Publish another flow of this workspace to call it from here.</p>}
    </div>
  );
}

export function FlowVersionPicker({ id, flow, value, onChange, readOnly }: { id: string; flow: number | undefined; value: number | null; onChange: (v: number | null) => void; readOnly: boolean }) {
  const { flows } = useCallableFlows();
  const versions = flows?.find((f) => f.id === flow)?.versions ?? [];
  return (
    <select id={id} className="sb-input" value={value ?? ""} disabled={readOnly || !versions.length} onChange={(e) => onChange(e.target.value ? Number(e.target.value) : null)}>
      <option value="">{versions.length ? `Latest published when the step runs (now v${versions[0]})` : "Latest published"}</option>
      {value != null && !versions.includes(value) && <option value={value}>v{value} (not published)</option>}
      {versions.map((n) => (
        <option key={n} value={n}>
          v{n}
        </option>
      ))}
    </select>
  );
}

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
