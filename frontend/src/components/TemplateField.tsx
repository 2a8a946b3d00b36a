// A template editor: the text, a variable picker (the "Insert variable" button, or typing
// "{{"), the references it makes shown by node label, and the ones that will not resolve.
import { useContext, useRef, useState } from "react";
import { InspectorContext } from "../context";
import { Icon } from "../icons";
import { VariablePicker } from "./VariablePicker";

export function TemplateField({ id, value, onChange, readOnly, nodeId, label, multiline = true, placeholder }: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  readOnly: boolean;
  nodeId: string;
  label: string;
  multiline?: boolean;
  placeholder?: string;
}) {
  const scope = useContext(InspectorContext);
  const ref = useRef<HTMLTextAreaElement & HTMLInputElement>(null);
  const [picking, setPicking] = useState<null | "button" | "typed">(null);
  const variables = scope.variables(nodeId);
  const issues = scope.issues(value, nodeId);
  const references = scope.references(value);

  const insert = (path: string) => {
    const el = ref.current;
    const token = `{{ ${path} }}`;
    let start = el?.selectionStart ?? value.length;
    const end = el?.selectionEnd ?? value.length;
    // Typed "{{" opened the picker: the reference replaces it.
    if (picking === "typed" && value.slice(Math.max(0, start - 2), start) === "{{") start -= 2;
    const next = value.slice(0, start) + token + value.slice(end);
    onChange(next);
    setPicking(null);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(start + token.length, start + token.length);
    });
  };

  const common = {
    ref,
    id,
    className: `sb-input${multiline ? " sb-code" : ""}`,
    value,
    readOnly,
    spellCheck: false,
    placeholder: placeholder ?? "Write the message. Type {{ to insert a variable.",
    onChange: (e: { target: { value: string; selectionStart: number | null } }) => {
      const text = e.target.value;
      const caret = e.target.selectionStart ?? text.length;
      onChange(text);
      if (text.length > value.length && text.slice(caret - 2, caret) === "{{" && text.slice(caret, caret + 2) !== "}}") setPicking("typed");
      else if (picking === "typed") setPicking(null);
    },
  };
  return (
    <div className={`sb-template${issues.length ? " has-issues" : ""}${multiline ? "" : " is-inline"}`}>
      {multiline ? <textarea rows={Math.min(12, Math.max(3, value.split("\n").length + 1))} {...common} /> : <input {...common} />}
      <div className="sb-template-bar">
        {!readOnly && (
          <button
            type="button"
            className="sb-link-btn"
            aria-expanded={!!picking}
            aria-label={`Variables for ${label} (${variables.length})`}
            onClick={() => setPicking(picking ? null : "button")}
          >
            {"{ }"} Insert variable
          </button>
        )}
        {references.length > 0 && (
          <span className="sb-ref-chips" aria-label={`${label} reads`}>
            {references.map((r) => (
              <span key={r.path} className="sb-ref-chip" title={`{{ ${r.path} }}`} data-ref-path={r.path}>
                {r.nodeLabel}
                {r.field && <span className="sb-ref-field">{` › ${r.field}`}</span>}
              </span>
            ))}
          </span>
        )}
        {issues.length > 0 && (
          <span className="sb-template-issue-count">
            <Icon name="alert" size={12} /> {issues.length} unknown
          </span>
        )}
      </div>
      {issues.length > 0 && (
        <ul className="sb-template-issues" aria-label={`Problems in ${label}`}>
          {issues.map((issue) => (
            <li key={issue.text}>
              <code>{issue.text}</code> {issue.message}
            </li>
          ))}
        </ul>
      )}
      {picking && <VariablePicker variables={variables} label={label} readOnly={readOnly} onPick={insert} onClose={() => setPicking(null)} />}
    </div>
  );
}
