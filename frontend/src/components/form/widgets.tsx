// The pickers the form uses for a few named fields instead of the field kind from the schema.
import { lazy, Suspense, useContext } from "react";
import { InspectorContext } from "../../context";
import type { GraphProblem, Json, JsonObject } from "../../types";
import { FieldPicker } from "../FieldPicker";
import { KnowledgePicker } from "../KnowledgePicker";
import { FlowInputs } from "../FlowInputs";
import { FallbackModels, ReviewValues } from "../ListPickers";
import { ModelPicker } from "../ModelPicker";
import { PeoplePicker } from "../PeoplePicker";
import { SchemaBuilder } from "../SchemaBuilder";
import { ToolPicker, ArgumentsForm, ToolsChecklist } from "../ToolPicker";
import { Field, TagList, type Change } from "./inputs";
import type { FormContext } from "../SchemaForm";

export type Widget =
  | "users" | "groups" | "input-schema" | "output-schema" | "sample" | "model" | "model-auto" | "fallback-models" | "tool" | "arguments" | "tools"
  | "data-path" | "review-values" | "knowledge-bases" | "flow" | "flow-version" | "flow-inputs" | "flow-tools";

const FlowPickers = lazy(() => import("./flowWidgets"));

// Keyed by node type and field path, list indices written as [] (routes[].conditions[].field).
export const WIDGETS: Record<string, Widget> = {
  "approval.users": "users",
  "approval.groups": "groups",
  "approval.show": "review-values",
  "input.schema": "input-schema",
  "input.sample": "sample",
  "prompt.json_schema": "output-schema",
  "prompt.model": "model-auto",
  "prompt.fallback_models": "fallback-models",
  "router.model": "model",
  "evaluator.model": "model",
  "prompt.tools": "tools",
  "prompt.flow_tools": "flow-tools",
  "tool.tool": "tool",
  "tool.arguments": "arguments",
  "router.routes[].conditions[].field": "data-path",
  "flow.flow": "flow",
  "flow.version": "flow-version",
  "flow.inputs": "flow-inputs",
  "map.flow": "flow",
  "map.version": "flow-version",
  "map.inputs": "flow-inputs",
  "agent.model": "model",
  "agent.critique_model": "model",
  "agent.fallback_models": "fallback-models",
  "agent.tools": "tools",
  "agent.flow_tools": "flow-tools",
  "agent.json_schema": "output-schema",
  "retrieve.knowledge_bases": "knowledge-bases",
  "agent.knowledge_bases": "knowledge-bases",
};

// Fields whose schema names a picker (e.g. the people a failed step is handed to).
export const FORMAT_WIDGETS: Record<string, "users" | "groups"> = { users: "users", groups: "groups" };

export interface FlowPickerProps {
  widget: "flow" | "flow-version" | "flow-tools";
  id: string;
  value: Json | undefined;
  onChange: Change;
  readOnly: boolean;
  siblings: JsonObject;
  /** The node's problems (a flow tool shows those about its own fields). */
  problems: GraphProblem[];
  kind: string;
  /** The field may be left empty. */
  optional?: boolean;
}

function LazyFlowPicker(props: FlowPickerProps) {
  return (
    <Suspense fallback={<span className="sb-muted sb-small">Loading…</span>}>
      <FlowPickers {...props} />
    </Suspense>
  );
}

export function WidgetField({ widget, id, value, onChange, ctx, siblings, common, description, json }: {
  widget: Widget;
  id: string;
  value: Json | undefined;
  onChange: Change;
  ctx: FormContext;
  siblings: JsonObject;
  common: { label: string; hint?: string; required: boolean; htmlFor?: string; problems: GraphProblem[] };
  description?: string;
  json: () => JSX.Element;
}) {
  const scope = useContext(InspectorContext);
  const picker = { id, value, onChange, readOnly: ctx.readOnly, siblings, problems: ctx.problems, kind: ctx.kind };
  if (widget === "flow") {
    return (
      <Field {...common} label="Flow" hint={undefined}>
        <LazyFlowPicker widget="flow" {...picker} optional={!common.required} />
      </Field>
    );
  }
  if (widget === "flow-version") {
    return (
      <Field {...common} hint={undefined}>
        <LazyFlowPicker widget="flow-version" {...picker} />
      </Field>
    );
  }
  if (widget === "flow-tools") {
    return (
      <Field {...common} htmlFor={undefined} wide>
        <LazyFlowPicker widget="flow-tools" {...picker} />
      </Field>
    );
  }
  if (widget === "flow-inputs") {
    const flow = typeof siblings.flow === "number" ? siblings.flow : undefined;
    return (
      <Field {...common} htmlFor={undefined} hint="Each of the called flow's inputs; insert variables from this flow." wide>
        <FlowInputs flow={flow} value={(value as JsonObject) ?? {}} onChange={onChange} readOnly={ctx.readOnly} nodeId={ctx.nodeId} json={json} />
      </Field>
    );
  }
  if (widget === "input-schema" || widget === "output-schema") {
    const input = widget === "input-schema";
    return (
      <Field
        {...common}
        hint={input ? "The fields a run asks for. Later nodes can insert them as variables." : "The fields the model must return. Later nodes can insert each field as a variable."}
        htmlFor={undefined}
        wide
      >
        {!input && siblings.output_format !== "json" ? (
          <p className="sb-muted sb-small">Set the output format to JSON to describe the fields the model returns.</p>
        ) : (
          <SchemaBuilder
            value={input ? ((value as JsonObject) ?? { type: "object", properties: {} }) : ((value as JsonObject | null) ?? null)}
            onChange={onChange}
            readOnly={ctx.readOnly}
            mode={input ? "input" : "output"}
            json={json}
          />
        )}
      </Field>
    );
  }
  if (widget === "model" || widget === "model-auto") {
    return (
      <Field {...common} hint={undefined}>
        <ModelPicker id={id} value={(value as string) ?? ""} onChange={onChange} readOnly={ctx.readOnly} allowAuto={widget === "model-auto"} />
      </Field>
    );
  }
  if (widget === "tool") {
    return (
      <Field {...common}>
        <ToolPicker id={id} value={(value as string) ?? ""} onChange={onChange} readOnly={ctx.readOnly} />
      </Field>
    );
  }
  if (widget === "arguments") {
    const tool = scope.catalogs.tools?.find((t) => t.name === siblings.tool);
    return (
      <Field {...common} htmlFor={tool ? undefined : id} hint={tool ? undefined : description} wide>
        <ArgumentsForm tool={tool} value={(value as JsonObject) ?? {}} onChange={onChange} readOnly={ctx.readOnly} nodeId={ctx.nodeId} json={json} />
      </Field>
    );
  }
  if (widget === "tools") {
    return (
      <Field {...common} htmlFor={undefined}>
        <ToolsChecklist
          value={((value as Json[]) ?? []).map(String)}
          onChange={onChange}
          readOnly={ctx.readOnly}
          fallback={() => <TagList id={id} value={((value as Json[]) ?? []).map(String)} onChange={onChange} readOnly={ctx.readOnly} />}
        />
      </Field>
    );
  }
  if (widget === "knowledge-bases") {
    const names = ((value as Json[]) ?? []).map(String);
    return (
      <Field {...common} htmlFor={undefined}>
        <KnowledgePicker
          value={names}
          onChange={onChange}
          readOnly={ctx.readOnly}
          fallback={() => <TagList id={id} value={names} onChange={onChange} readOnly={ctx.readOnly} />}
        />
      </Field>
    );
  }
  if (widget === "data-path") {
    return (
      <Field {...common}>
        <FieldPicker id={id} value={(value as string) ?? ""} onChange={onChange} readOnly={ctx.readOnly} nodeId={ctx.nodeId} />
      </Field>
    );
  }
  if (widget === "users" || widget === "groups") {
    return (
      <Field {...common}>
        <PeoplePicker id={id} kind={widget} value={(value as string[]) ?? []} onChange={onChange} readOnly={ctx.readOnly} />
      </Field>
    );
  }
  if (widget === "fallback-models") {
    return (
      <Field {...common} hint="Tried in this order when the model fails (an outage, a rate limit, a refusal).">
        <FallbackModels id={id} value={((value as Json[]) ?? []).map(String)} onChange={onChange} readOnly={ctx.readOnly} />
      </Field>
    );
  }
  if (widget === "review-values") {
    return (
      <Field {...common} hint="What the approver sees, picked from the upstream nodes; none: the node's input.">
        <ReviewValues id={id} value={((value as Json[]) ?? []).map(String)} onChange={onChange} readOnly={ctx.readOnly} nodeId={ctx.nodeId} />
      </Field>
    );
  }
  return null;
}
