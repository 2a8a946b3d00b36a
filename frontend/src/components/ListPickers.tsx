// Pickers for lists a PM would otherwise type: a prompt's fallback models (in the order they
// are tried, with prices) and the values an approval shows its approver (data paths by label).
import { useContext, useState, type ReactNode } from "react";
import { priceText } from "../catalogs";
import { InspectorContext } from "../context";
import { Icon } from "../icons";
import { FieldOptions, fieldText } from "./FieldPicker";

const OTHER = "__other__";

/** Chosen entries in order, each removable, above a select that adds one more. */
function OrderedChoices({ value, onChange, readOnly, describe, noun, children, max }: {
  value: string[];
  onChange: (v: string[]) => void;
  readOnly: boolean;
  describe: (entry: string) => { text: string; hint?: string; unknown?: boolean };
  noun: string;
  children: ReactNode;
  max?: number;
}) {
  return (
    <div className="sb-ordered">
      {value.length > 0 && (
        <ol className="sb-ordered-list">
          {value.map((entry, index) => {
            const { text, hint, unknown } = describe(entry);
            return (
              <li key={entry} className={`sb-ordered-item${unknown ? " is-unknown" : ""}`} data-entry={entry}>
                <span className="sb-ordered-text">
                  {text}
                  {hint && <span className="sb-ordered-hint">{hint}</span>}
                </span>
                {!readOnly && (
                  <span className="sb-ordered-actions">
                    <button type="button" className="sb-icon-btn" aria-label={`Move ${text} up`} disabled={index === 0} onClick={() => onChange(swap(value, index, index - 1))}>
                      <Icon name="up" size={12} />
                    </button>
                    <button type="button" className="sb-icon-btn" aria-label={`Remove ${text}`} onClick={() => onChange(value.filter((x) => x !== entry))}>
                      <Icon name="close" size={12} />
                    </button>
                  </span>
                )}
              </li>
            );
          })}
        </ol>
      )}
      {!value.length && <span className="sb-muted sb-small">No {noun} yet</span>}
      {!readOnly && (max === undefined || value.length < max) && children}
    </div>
  );
}

function swap(list: string[], from: number, to: number): string[] {
  const next = [...list];
  [next[from], next[to]] = [next[to], next[from]];
  return next;
}

function TypedEntry({ id, placeholder, onAdd, onCancel }: { id: string; placeholder: string; onAdd: (v: string) => void; onCancel?: () => void }) {
  const [text, setText] = useState("");
  const add = () => {
    if (text.trim()) onAdd(text.trim());
    setText("");
  };
  return (
    <div className="sb-typed-entry">
      <input
        id={id}
        className="sb-input sb-code"
        value={text}
        placeholder={placeholder}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            add();
          }
        }}
      />
      <button type="button" className="sb-btn sb-btn-sm" onClick={add} disabled={!text.trim()}>
        Add
      </button>
      {onCancel && (
        <button type="button" className="sb-link-btn" onClick={onCancel}>
          Choose from the list
        </button>
      )}
    </div>
  );
}

export function FallbackModels({ id, value, onChange, readOnly }: { id: string; value: string[]; onChange: (v: string[]) => void; readOnly: boolean }) {
  const { models } = useContext(InspectorContext).catalogs;
  const [typing, setTyping] = useState(false);
  const find = (name: string) => models?.find((m) => m.name === name);
  const describe = (name: string) => {
    const m = find(name);
    return { text: name, hint: m ? priceText(m) || "price not known" : models ? "not a configured model" : undefined, unknown: !!models && !m };
  };
  const add = (name: string) => !value.includes(name) && onChange([...value, name]);
  const remaining = (models ?? []).filter((m) => !value.includes(m.name));
  return (
    <OrderedChoices value={value} onChange={onChange} readOnly={readOnly} describe={describe} noun="fallback model" max={5}>
      {!models || typing ? (
        <TypedEntry id={id} placeholder="provider/model, e.g. openai/gpt-4o-mini" onAdd={add} onCancel={models ? () => setTyping(false) : undefined} />
      ) : (
        <select id={id} className="sb-input" value="" data-add-fallback onChange={(e) => (e.target.value === OTHER ? setTyping(true) : e.target.value && add(e.target.value))}>
          <option value="">{remaining.length ? "Add a fallback model…" : "Every model is added"}</option>
          {remaining.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
              {priceText(m) ? ` · ${priceText(m)}` : ""}
            </option>
          ))}
          <option value={OTHER}>Other…</option>
        </select>
      )}
    </OrderedChoices>
  );
}

export function ReviewValues({ id, value, onChange, readOnly, nodeId }: { id: string; value: string[]; onChange: (v: string[]) => void; readOnly: boolean; nodeId: string }) {
  const scope = useContext(InspectorContext);
  const options = scope.variables(nodeId).filter((v) => v.group !== "Loop");
  const [typing, setTyping] = useState(false);
  const describe = (path: string) => {
    const v = options.find((o) => o.path === path);
    return v ? { text: `${v.nodeLabel ?? v.group} › ${fieldText(v)}`, hint: path } : { text: path, hint: "not an upstream value", unknown: true };
  };
  const add = (path: string) => !value.includes(path) && onChange([...value, path]);
  const remaining = options.filter((o) => !value.includes(o.path));
  return (
    <OrderedChoices value={value} onChange={onChange} readOnly={readOnly} describe={describe} noun="value: the approver sees this node's input" max={20}>
      {!options.length || typing ? (
        <TypedEntry id={id} placeholder="e.g. nodes.draft.output" onAdd={add} onCancel={options.length ? () => setTyping(false) : undefined} />
      ) : (
        <select id={id} className="sb-input" value="" data-add-review-value onChange={(e) => (e.target.value === OTHER ? setTyping(true) : e.target.value && add(e.target.value))}>
          <option value="">Add a value to review…</option>
          <FieldOptions options={remaining} />
          <option value={OTHER}>Other path…</option>
        </select>
      )}
    </OrderedChoices>
  );
}
