// The sub-flow node's pickers: a published flow of the workspace (GET /api/flows/callable) and
// which of its published versions to call (also used for the flows offered as tools). Loaded
// lazily, with the other pickers that name flows (form/flowWidgets.tsx).
import { useCallableFlows } from "../callableFlows";

export function FlowPicker({ id, value, onChange, readOnly, none }: { id: string; value: number | null; onChange: (v: number | undefined) => void; readOnly: boolean; none?: string }) {
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
        <option value="">{!flows ? "Loading flows…" : none ? none : flows.length ? "Choose a flow…" : "No published flow to call"}</option>
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
