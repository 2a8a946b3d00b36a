// A prompt template editor: the text, the variables available at this node (click to insert),
// and the references that will not resolve, flagged as you type.
import { useContext, useRef, useState } from "react";
import { InspectorContext } from "../context";
import { Icon } from "../icons";

export function TemplateField({ id, value, onChange, readOnly, nodeId, label }: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  readOnly: boolean;
  nodeId: string;
  label: string;
}) {
  const scope = useContext(InspectorContext);
  const ref = useRef<HTMLTextAreaElement>(null);
  const [showVars, setShowVars] = useState(false);
  const variables = scope.variables(nodeId);
  const issues = scope.issues(value, nodeId);
  const insert = (path: string) => {
    const el = ref.current;
    const token = `{{ ${path} }}`;
    if (!el) return onChange(value + token);
    const start = el.selectionStart ?? value.length;
    const end = el.selectionEnd ?? value.length;
    onChange(value.slice(0, start) + token + value.slice(end));
    requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(start + token.length, start + token.length);
    });
  };
  const groups = ["Inputs", "Upstream nodes", "Loop"] as const;
  return (
    <div className={`sb-template${issues.length ? " has-issues" : ""}`}>
      <textarea
        ref={ref}
        id={id}
        className="sb-input sb-code"
        rows={Math.min(12, Math.max(3, value.split("\n").length + 1))}
        value={value}
        readOnly={readOnly}
        spellCheck={false}
        placeholder="Write the message. Use {{ inputs.question }} or {{ nodes.<id>.output }}."
        onChange={(e) => onChange(e.target.value)}
      />
      <div className="sb-template-bar">
        <button type="button" className="sb-link-btn" aria-expanded={showVars} aria-label={`Variables for ${label} (${variables.length})`} onClick={() => setShowVars(!showVars)}>
          {"{ }"} Variables ({variables.length})
        </button>
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
      {showVars && (
        <div className="sb-vars" role="group" aria-label={`Variables available in ${label}`}>
          {groups.map((group) => {
            const items = variables.filter((v) => v.group === group);
            if (!items.length) return null;
            return (
              <div key={group} className="sb-vars-group">
                <div className="sb-vars-title">{group}</div>
                {items.map((v) => (
                  <button key={v.path} type="button" className="sb-var" disabled={readOnly} onClick={() => insert(v.path)} title={`Insert {{ ${v.path} }}`}>
                    <code>{v.path}</code>
                    <span>{v.label}</span>
                  </button>
                ))}
              </div>
            );
          })}
          {!variables.some((v) => v.group === "Upstream nodes") && (
            <p className="sb-muted sb-small">Connect nodes upstream of this one to use their output.</p>
          )}
        </div>
      )}
    </div>
  );
}
