// The flows a prompt or agent node offers its model as tools (`flow_tools`): each a published
// flow of the workspace (GET /api/flows/callable), the version it calls (the latest when the
// step runs, or a fixed one), and optionally the name and description the model sees.
import { useId } from "react";
import { Icon } from "../icons";
import type { GraphProblem, Json } from "../types";
import { type CallableFlow, useCallableFlows } from "../callableFlows";
import { FlowPicker, FlowVersionPicker } from "./FlowPicker";

export interface FlowTool {
  flow?: number;
  version?: number | "latest";
  name?: string;
  description?: string;
}

const NAME = /^[A-Za-z0-9_-]*$/;

/** A tool name for a flow the model can read ("Price an ingredient" → price_an_ingredient),
 * unlike the default flow_<id>; made unique among the names already taken. */
export function suggestedName(flow: CallableFlow, taken: string[]): string {
  const base = flow.name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60) || `flow_${flow.id}`;
  let name = base;
  for (let n = 2; taken.includes(name); n++) name = `${base}_${n}`;
  return name;
}

export function toolName(tool: FlowTool): string {
  return tool.name || (tool.flow ? `flow_${tool.flow}` : "");
}

function entryProblems(problems: GraphProblem[], index: number): GraphProblem[] {
  const prefix = `flow_tools.${index}`;
  return problems.filter((p) => {
    const field = (p.field ?? "").replace(/\[(\d+)\]/g, ".$1");
    return field === prefix || field.startsWith(`${prefix}.`);
  });
}

export function FlowToolsPicker({ id, value, onChange, readOnly, problems, max, builtins }: {
  id: string;
  value: FlowTool[];
  onChange: (v: Json) => void;
  readOnly: boolean;
  /** The node's problems: each entry shows the ones about its fields (flow_tools.<i>.…). */
  problems: GraphProblem[];
  max: number;
  /** The node's other tools' names, which a flow tool's name must not repeat. */
  builtins: string[];
}) {
  const { flows, error } = useCallableFlows();
  const set = (index: number, entry: FlowTool) => onChange(value.map((e, i) => (i === index ? entry : e)) as unknown as Json);
  const add = (flowId: number) => {
    const flow = flows?.find((f) => f.id === flowId);
    if (!flow) return;
    const name = suggestedName(flow, [...builtins, ...value.map(toolName)]);
    onChange([...value, { flow: flow.id, version: "latest", name }] as unknown as Json);
  };
  return (
    <div className="sb-flow-tools" data-flow-tools>
      {value.map((entry, index) => (
        <FlowToolEntry
          key={index}
          index={index}
          entry={entry}
          onChange={(e) => set(index, e)}
          onRemove={() => onChange(value.filter((_, i) => i !== index) as unknown as Json)}
          readOnly={readOnly}
          problems={entryProblems(problems, index)}
          flow={flows?.find((f) => f.id === entry.flow)}
        />
      ))}
      {!value.length && <span className="sb-muted sb-small">No flow offered as a tool yet</span>}
      {error && <div className="sb-field-problem">{error}</div>}
      {!readOnly && value.length < max && (
        <select id={id} className="sb-input" data-add-flow-tool value="" disabled={!flows} aria-label="Add a flow as a tool" onChange={(e) => e.target.value && add(Number(e.target.value))}>
          <option value="">{!flows ? "Loading flows…" : flows.length ? "Add a flow as a tool…" : "No published flow to offer"}</option>
          {flows?.map((f) => (
            <option key={f.id} value={f.id}>
              {f.name} · v{f.versions[0]}
            </option>
          ))}
        </select>
      )}
      {!readOnly && value.length >= max && <p className="sb-field-hint">At most {max} flows per node.</p>}
    </div>
  );
}

function FlowToolEntry({ index, entry, onChange, onRemove, readOnly, problems, flow }: {
  index: number;
  entry: FlowTool;
  onChange: (e: FlowTool) => void;
  onRemove: () => void;
  readOnly: boolean;
  problems: GraphProblem[];
  flow: CallableFlow | undefined;
}) {
  const base = useId();
  const name = toolName(entry);
  const badName = entry.name !== undefined && !NAME.test(entry.name);
  const nameProblems = problems.filter((p) => p.field?.endsWith(".name"));
  const others = problems.filter((p) => !nameProblems.includes(p));
  const version = entry.version === undefined || entry.version === "latest" ? null : entry.version;
  return (
    <fieldset className={`sb-object-item${problems.length ? " has-problem" : ""}`} data-flow-tool={index}>
      <legend>
        Flow tool {index + 1}
        {name ? ` · ${name}` : ""}
      </legend>
      {!readOnly && (
        <div className="sb-object-item-actions">
          <button type="button" className="sb-icon-btn" aria-label={`Remove flow tool ${index + 1}`} onClick={onRemove}>
            <Icon name="trash" size={12} />
          </button>
        </div>
      )}
      <div className="sb-field">
        <label className="sb-field-label" htmlFor={`${base}-flow`}>
          Flow<span className="sb-required" aria-hidden="true">*</span>
        </label>
        <FlowPicker id={`${base}-flow`} value={entry.flow ?? null} onChange={(v) => onChange({ ...entry, flow: v })} readOnly={readOnly} />
      </div>
      <div className="sb-field">
        <label className="sb-field-label" htmlFor={`${base}-version`}>
          Version
        </label>
        <FlowVersionPicker id={`${base}-version`} flow={entry.flow} value={version} onChange={(v) => onChange({ ...entry, version: v ?? "latest" })} readOnly={readOnly} />
      </div>
      <div className="sb-field">
        <label className="sb-field-label" htmlFor={`${base}-name`}>
          Tool name
        </label>
        <input
          id={`${base}-name`}
          className="sb-input sb-code"
          value={entry.name ?? ""}
          maxLength={64}
          readOnly={readOnly}
          placeholder={entry.flow ? `flow_${entry.flow}` : "a_tool_name"}
          onChange={(e) => onChange({ ...entry, name: e.target.value })}
        />
        <div className="sb-field-hint">The name the model calls it by: letters, digits, _ and -.</div>
        {badName && <div className="sb-field-problem">Use only letters, digits, _ and - in a tool name.</div>}
        {nameProblems.map((p, i) => (
          <div key={i} className="sb-field-problem" role="alert">
            {p.message}
          </div>
        ))}
      </div>
      <div className="sb-field is-wide">
        <label className="sb-field-label" htmlFor={`${base}-description`}>
          What it does (for the model)
        </label>
        <textarea
          id={`${base}-description`}
          className="sb-input"
          rows={2}
          maxLength={1000}
          value={entry.description ?? ""}
          readOnly={readOnly}
          placeholder={flow?.description || (flow ? `Run the flow "${flow.name}".` : "Empty: the flow's description")}
          onChange={(e) => onChange({ ...entry, description: e.target.value })}
        />
      </div>
      {others.map((p, i) => (
        <div key={i} className="sb-field-problem" role="alert">
          {p.message}
        </div>
      ))}
      {flow && Object.keys(flow.input_schema.properties ?? {}).length > 0 && (
        <p className="sb-field-hint" data-flow-tool-arguments>
          The model fills in its inputs: {Object.keys(flow.input_schema.properties ?? {}).join(", ")}.
        </p>
      )}
    </fieldset>
  );
}
