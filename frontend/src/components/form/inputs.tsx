// The form's building blocks: a labelled field with its problems, a JSON editor, a free value,
// and a list of words (tags).
import { useState, type ReactNode } from "react";
import { isWarning } from "../../context";
import { Icon } from "../../icons";
import type { GraphProblem, Json } from "../../types";

export type Change = (value: Json | undefined) => void;

/** One problem under the field it is about: an error, or a warning (it does not block publishing). */
export function ProblemNote({ problem }: { problem: GraphProblem }) {
  return isWarning(problem) ? (
    <div className="sb-field-warning" role="status" data-problem-code={problem.code}>
      {problem.message}
    </div>
  ) : (
    <div className="sb-field-problem" role="alert">
      {problem.message}
    </div>
  );
}

export function Field({ label, hint, required, htmlFor, problems, children, wide }: {
  label: string;
  hint?: string;
  required?: boolean;
  htmlFor?: string;
  problems: GraphProblem[];
  children: ReactNode;
  wide?: boolean;
}) {
  return (
    <div className={`sb-field${problems.some((p) => !isWarning(p)) ? " has-problem" : ""}${wide ? " is-wide" : ""}`}>
      <label className="sb-field-label" htmlFor={htmlFor}>
        {label}
        {required && <span className="sb-required" aria-hidden="true">*</span>}
      </label>
      {children}
      {hint && <div className="sb-field-hint">{hint}</div>}
      {problems.map((p, i) => (
        <ProblemNote key={i} problem={p} />
      ))}
    </div>
  );
}

export function JsonEditor({ id, value, onChange, readOnly, nullable }: {
  id: string;
  value: Json | undefined;
  onChange: Change;
  readOnly: boolean;
  nullable?: boolean;
}) {
  const initial = value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
  const [text, setText] = useState(initial);
  const [error, setError] = useState("");
  const [seen, setSeen] = useState(initial);
  if (initial !== seen && !error) {
    setSeen(initial);
    setText(initial);
  }
  return (
    <>
      <textarea
        id={id}
        className="sb-input sb-code"
        rows={Math.min(14, Math.max(4, text.split("\n").length))}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        onChange={(e) => {
          setText(e.target.value);
          if (!e.target.value.trim()) {
            setError("");
            onChange(nullable ? null : undefined);
            return;
          }
          try {
            const parsed = JSON.parse(e.target.value);
            setError("");
            setSeen(JSON.stringify(parsed, null, 2));
            onChange(parsed);
          } catch (err) {
            setError(`Not valid JSON yet: ${(err as Error).message}`);
          }
        }}
      />
      {error && <div className="sb-field-problem">{error}</div>}
    </>
  );
}

export function AnyValue({ id, value, onChange, readOnly }: { id: string; value: Json | undefined; onChange: Change; readOnly: boolean }) {
  const shown = value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return (
    <input
      id={id}
      className="sb-input"
      value={shown}
      readOnly={readOnly}
      placeholder="text, number or JSON"
      onChange={(e) => {
        const raw = e.target.value;
        try {
          const parsed = JSON.parse(raw);
          onChange(typeof parsed === "object" || typeof parsed === "number" || typeof parsed === "boolean" ? parsed : raw);
        } catch {
          onChange(raw === "" ? null : raw);
        }
      }}
    />
  );
}

export function TagList({ id, value, onChange, readOnly, placeholder }: {
  id: string;
  value: string[];
  onChange: Change;
  readOnly: boolean;
  placeholder?: string;
}) {
  const [draft, setDraft] = useState("");
  const add = () => {
    const v = draft.trim();
    if (v && !value.includes(v)) onChange([...value, v]);
    setDraft("");
  };
  return (
    <div className="sb-tags">
      {value.map((tag) => (
        <span key={tag} className="sb-tag">
          {tag}
          {!readOnly && (
            <button type="button" aria-label={`Remove ${tag}`} onClick={() => onChange(value.filter((t) => t !== tag))}>
              <Icon name="close" size={10} />
            </button>
          )}
        </span>
      ))}
      {!readOnly && (
        <input
          id={id}
          className="sb-tag-input"
          value={draft}
          placeholder={placeholder ?? "Type and press Enter"}
          onChange={(e) => setDraft(e.target.value)}
          onBlur={add}
          onKeyDown={(e) => {
            if (e.key === "Enter" || e.key === ",") {
              e.preventDefault();
              add();
            } else if (e.key === "Backspace" && !draft && value.length) {
              onChange(value.slice(0, -1));
            }
          }}
        />
      )}
    </div>
  );
}

const ACRONYMS: Record<string, string> = { llm: "LLM", json: "JSON", ai: "AI", api: "API", url: "URL", id: "ID", http: "HTTP" };

export function pretty(option: string): string {
  if (ACRONYMS[option.toLowerCase()]) return ACRONYMS[option.toLowerCase()];
  const words = option.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
