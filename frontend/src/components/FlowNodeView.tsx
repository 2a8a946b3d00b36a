// A node on the canvas: its type, label, a one-line summary, named ports, and badges for
// validation problems, run state and diff state.
import { Handle, Position, useStore as useFlowStore, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useRef } from "react";
import { isWarning, useCanvas } from "../context";
import { outputPorts, type FlowNode } from "../graph";
import { Icon } from "../icons";
import { isRegion, regionSize, REGION_TOP } from "../regions";
import { useStore } from "../store";
import type { JsonObject, RunState } from "../types";

const RUN_LABELS: Record<RunState, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  skipped: "Skipped",
  waiting: "Waiting",
  reused: "Reused",
  cancelled: "Cancelled",
};

export function summary(kind: string, config: JsonObject): string {
  const text = (v: unknown) => (typeof v === "string" ? v : "");
  switch (kind) {
    case "prompt":
      return text(config.prompt) || "No message yet";
    case "input": {
      const props = (config.schema as JsonObject | undefined)?.properties;
      const names = props && typeof props === "object" ? Object.keys(props) : [];
      return names.length ? names.join(", ") : "No fields";
    }
    case "tool":
      return text(config.tool) || "No tool chosen";
    case "router":
      return config.mode === "llm" ? "Model picks a route" : "Rules pick a route";
    case "evaluator": {
      const rules = Array.isArray(config.rules) ? config.rules.length : 0;
      const tries = config.max_attempts ?? 3;
      return config.mode === "llm" ? `Judge model · ${tries} attempts` : `${rules} rule${rules === 1 ? "" : "s"} · ${tries} attempts`;
    }
    case "approval": {
      const who = [...((config.users as string[]) ?? []), ...((config.groups as string[]) ?? [])];
      return who.length ? `Assigned: ${who.join(", ")}` : "Nobody assigned";
    }
    case "output":
      return `Result: ${text(config.name) || "result"}`;
    case "map": {
      const flow = config.flow;
      const each = text(config.items) || "no list chosen";
      return flow === undefined || flow === null || flow === "" ? `For each item of ${each}, the steps inside` : `For each item of ${each}: flow #${flow}`;
    }
    default:
      return "";
  }
}

function FlowNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const { catalogue, store, readOnly } = useCanvas();
  const info = catalogue[data.kind];
  const found = useStore(store, (s) => s.byNode[id]);
  const problems = found?.filter((p) => !isWarning(p));
  const warnings = found?.filter(isWarning);
  const runState = useStore(store, (s) => s.runStates[id]);
  const runInfo = useStore(store, (s) => s.runInfo[id]);
  const diff = useStore(store, (s) => s.diff?.nodes[id]);
  const outputs = outputPorts(info, data.config);
  const inputs = info?.inputs ?? [{ name: "in", label: "Input", required: true }];
  const portKey = outputs.map((p) => p.name).join("|");
  const updateInternals = useUpdateNodeInternals();
  const mountedPorts = useRef(portKey);
  useEffect(() => {
    // React Flow measures handles on mount; re-measure only when the ports change (router
    // routes added or renamed), not for every node of a large graph as it appears.
    if (mountedPorts.current !== portKey) {
      mountedPorts.current = portKey;
      updateInternals(id);
    }
  }, [id, portKey, updateInternals]);

  const region = isRegion({ data }, catalogue);
  // A region's box grows with the nodes inside it ("" for every other node: no re-render).
  const size = useFlowStore((s) => {
    if (!region) return "";
    const { width, height } = regionSize(s.nodes.filter((n) => n.parentId === id));
    return `${width}x${height}`;
  });
  const [width, height] = size ? size.split("x").map(Number) : [undefined, undefined];
  const empty = useFlowStore((s) => region && !s.nodes.some((n) => n.parentId === id));

  const category = (info?.category ?? "unknown").toLowerCase().replace(/\W+/g, "-");
  const portProblem = (port: string) =>
    problems?.some((p) => p.code === "graph.E012" && p.field === `routes.${port}`);
  const classes = [
    "sb-node",
    `sb-cat-${category}`,
    selected ? "is-selected" : "",
    problems?.length ? "has-problems" : warnings?.length ? "has-warnings" : "",
    runState ? `run-${runState}` : "",
    diff ? `diff-${diff}` : "",
    region ? "sb-node-region" : "",
  ].join(" ");
  const single = outputs.length === 1 && outputs[0].name === "out";
  const taken = new Set(runInfo?.ports ?? []);
  const passes = runInfo?.iterations ?? 1;
  return (
    <div
      className={classes}
      data-node-id={id}
      data-node-type={data.kind}
      data-iterations={runState && passes > 1 ? passes : undefined}
      data-route={runInfo?.route || undefined}
      data-region={region ? "true" : undefined}
      style={region ? { width, height } : undefined}
      aria-label={`${info?.label ?? data.kind} node ${data.label || id}${runState ? `, ${RUN_LABELS[runState] ?? runState}` : ""}`}
    >
      {region && (
        <div className="sb-region-zone" style={{ top: REGION_TOP - 16 }} data-region-zone={id}>
          {empty && <p className="sb-region-hint">Drag the steps to run for each item here. The first one gets the item as {"{{ inputs.item }}"}; the last one gives the item’s result.</p>}
        </div>
      )}
      {runState && (
        <span className="sb-run-badges">
          <span className={`sb-run-badge run-${runState}`} data-node-id={id} data-run-state={runState}>
            <span className="sb-run-dot" aria-hidden="true" />
            {RUN_LABELS[runState] ?? runState}
          </span>
          {passes > 1 && (
            <span className="sb-run-badge sb-run-passes" title={`Ran ${passes} times (loop passes)`}>
              <Icon name="retry" size={10} />
              {`Pass ${passes}`}
            </span>
          )}
        </span>
      )}
      {diff && diff !== "same" && <span className={`sb-diff-badge diff-${diff}`}>{diff}</span>}
      <div className="sb-node-head">
        <span className="sb-node-icon">
          <Icon name={data.kind} size={14} />
        </span>
        <div className="sb-node-titles">
          <div className="sb-node-label">{data.label || info?.label || data.kind}</div>
          <div className="sb-node-meta">
            {info && data.label === info.label ? null : <>{info?.label ?? `Unknown type “${data.kind}”`} · </>}
            <span className="sb-mono">{id}</span>
          </div>
        </div>
        {problems?.length ? (
          <span className="sb-node-problem-count" title={problems.map((p) => p.message).join("\n")} data-problem-count={problems.length}>
            <Icon name="alert" size={12} />
            {problems.length}
          </span>
        ) : warnings?.length ? (
          <span className="sb-node-warning-count" title={warnings.map((p) => p.message).join("\n")} data-warning-count={warnings.length}>
            <Icon name="alert" size={12} />
            {warnings.length}
          </span>
        ) : null}
      </div>
      <div className="sb-node-summary">{summary(data.kind, data.config)}</div>
      {runState === "running" && runInfo?.preview ? (
        <div className="sb-node-stream" aria-live="off" data-node-stream>
          {runInfo.preview}
        </div>
      ) : null}
      {inputs.map((port, i) => (
        <Handle
          key={port.name}
          type="target"
          id={port.name}
          isConnectable={!readOnly}
          position={Position.Left}
          className="sb-handle sb-handle-in"
          style={{ top: 26 + i * 20 }}
          aria-label={`${port.label} input`}
        />
      ))}
      {single ? (
        <Handle type="source" id="out" isConnectable={!readOnly} position={Position.Right} className="sb-handle sb-handle-out" style={{ top: 26 }} aria-label="Output" />
      ) : outputs.length ? (
        <div className="sb-node-ports">
          {outputs.map((port) => (
            <div
              key={port.name}
              className={`sb-port-row port-${port.name}${portProblem(port.name) ? " has-problem" : ""}${runInfo?.ports ? (taken.has(port.name) ? " is-taken" : " is-untaken") : ""}`}
              data-port={port.name}
              data-taken={runInfo?.ports ? String(taken.has(port.name)) : undefined}
            >
              <span className="sb-port-label">
                {taken.has(port.name) && <Icon name="check" size={10} />}
                {port.label}
              </span>
              <Handle type="source" id={port.name} isConnectable={!readOnly} position={Position.Right} className="sb-handle sb-handle-out" aria-label={`${port.label} output`} />
            </div>
          ))}
        </div>
      ) : null}
      {problems?.length ? (
        <div className="sb-node-problem" role="note">
          {problems[0].message}
          {problems.length > 1 ? ` (+${problems.length - 1} more)` : ""}
        </div>
      ) : warnings?.length ? (
        <div className="sb-node-problem is-warning" role="note">
          {warnings[0].message}
          {warnings.length > 1 ? ` (+${warnings.length - 1} more)` : ""}
        </div>
      ) : null}
    </div>
  );
}

export default memo(FlowNodeView);
