// Pick a model from the configured providers, with its price per million tokens; "Other…"
// still lets a name be typed (a model the price table does not list). A prompt may also pick
// "Automatic": the router chooses a model per request (its candidates, tier and cascade are the
// fields below the picker).
import { useContext, useState } from "react";
import { priceText } from "../catalogs";
import { InspectorContext } from "../context";

const OTHER = "__other__";
const AUTO = "auto";

export function ModelPicker({ id, value, onChange, readOnly, allowDefault = true, allowAuto = false }: {
  id: string;
  value: string;
  onChange: (value: string) => void;
  readOnly: boolean;
  allowDefault?: boolean;
  /** Offer "Automatic" (the value `auto`): the router picks a model per request. */
  allowAuto?: boolean;
}) {
  const { models } = useContext(InspectorContext).catalogs;
  const auto = allowAuto && value.trim().toLowerCase() === AUTO;
  const known = auto || models?.some((m) => m.name === value || (!value.includes("/") && m.provider === "openai" && m.model === value));
  const [typing, setTyping] = useState(!!value && !known);
  if (!models || typing) {
    return (
      <div className="sb-model-picker">
        <input id={id} className="sb-input sb-code" value={value} readOnly={readOnly} placeholder="provider/model, e.g. openai/gpt-4o-mini" onChange={(e) => onChange(e.target.value)} />
        {models && !readOnly && (
          <button type="button" className="sb-link-btn" onClick={() => setTyping(false)}>
            Choose from the list
          </button>
        )}
      </div>
    );
  }
  const current = models.find((m) => m.name === value) ?? models.find((m) => m.provider === "openai" && m.model === value);
  const fallback = models.find((m) => m.is_default);
  const shown = current ?? (value ? undefined : fallback);
  return (
    <div className="sb-model-picker">
      <select
        id={id}
        className="sb-input"
        value={auto ? AUTO : (current?.name ?? "")}
        disabled={readOnly}
        onChange={(e) => {
          if (e.target.value === OTHER) return setTyping(true);
          onChange(e.target.value);
        }}
      >
        {allowDefault && <option value="">Workspace default{fallback ? ` (${fallback.name})` : ""}</option>}
        {allowAuto && <option value={AUTO}>Automatic: the router picks per request</option>}
        {models.map((m) => (
          <option key={m.name} value={m.name}>
            {m.name}
            {priceText(m) ? ` · ${priceText(m)}` : ""}
          </option>
        ))}
        <option value={OTHER}>Other…</option>
      </select>
      {auto && (
        <div className="sb-field-hint" data-model-auto>
          Each request goes to the cheapest candidate model likely to answer it well, and up a tier when its answer fails a check (see Candidate models below).
        </div>
      )}
      {!auto && shown && <div className="sb-field-hint" data-model-price>{priceText(shown) ? `${shown.name}: ${priceText(shown)}` : `${shown.name}: price not known`}</div>}
    </div>
  );
}
