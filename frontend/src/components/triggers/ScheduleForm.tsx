// Add or edit one schedule: cron, time zone, what happens to missed runs, a name. The server's
// reason for a bad cron or time zone is shown under that field.
import { useId, useMemo, useState } from "react";
import { fieldErrors, type Schedule, type ScheduleFields } from "./api";

const EXAMPLES: [string, string][] = [
  ["0 9 * * 1-5", "09:00 on weekdays"],
  ["*/15 * * * *", "every 15 minutes"],
  ["0 8 1 * *", "08:00 on the 1st of the month"],
];

function zones(): string[] {
  try {
    return (Intl as unknown as { supportedValuesOf: (k: string) => string[] }).supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

export function ScheduleForm({ initial, onSave, onCancel }: {
  initial: Schedule | null;
  onSave: (fields: ScheduleFields) => Promise<void>;
  onCancel: () => void;
}) {
  const id = useId();
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const [fields, setFields] = useState<ScheduleFields>({
    name: initial?.name ?? "",
    cron: initial?.cron ?? "0 9 * * 1-5",
    timezone: initial?.timezone ?? local,
    missed: initial?.missed ?? "once",
  });
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState("");
  const [saving, setSaving] = useState(false);
  const zoneList = useMemo(zones, []);
  const set = (patch: Partial<ScheduleFields>) => {
    setFields((f) => ({ ...f, ...patch }));
    setProblems((p) => Object.fromEntries(Object.entries(p).filter(([k]) => !(k in patch))));
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaving(true);
    setGeneral("");
    try {
      await onSave(fields);
    } catch (e) {
      const found = fieldErrors(e);
      setProblems(found.fields);
      setGeneral(found.general);
    } finally {
      setSaving(false);
    }
  };

  const problem = (name: keyof ScheduleFields) =>
    problems[name] ? (
      <p className="sb-field-problem" id={`${id}-${name}-problem`} role="alert" data-problem-for={name}>
        {problems[name]}
      </p>
    ) : null;
  const described = (name: keyof ScheduleFields, hint = true) =>
    [problems[name] ? `${id}-${name}-problem` : "", hint ? `${id}-${name}-hint` : ""].filter(Boolean).join(" ") || undefined;

  return (
    <form className="sb-schedule-form" onSubmit={submit} aria-label={initial ? "Edit schedule" : "New schedule"} noValidate data-schedule-form>
      <div className={`sb-field${problems.cron ? " has-problem" : ""}`}>
        <label className="sb-field-label" htmlFor={`${id}-cron`}>When (cron)</label>
        <input
          id={`${id}-cron`}
          className="sb-input sb-code"
          value={fields.cron}
          onChange={(e) => set({ cron: e.target.value })}
          aria-invalid={!!problems.cron}
          aria-describedby={described("cron")}
          spellCheck={false}
          autoComplete="off"
        />
        {problem("cron")}
        <p className="sb-field-hint" id={`${id}-cron-hint`}>
          Minute, hour, day of month, month, day of week. For example{" "}
          {EXAMPLES.map(([expr, text], i) => (
            <span key={expr}>
              {i > 0 && ", "}
              <button type="button" className="sb-link-btn sb-inline-link" onClick={() => set({ cron: expr })}>
                <code>{expr}</code>
              </button>{" "}
              ({text})
            </span>
          ))}
          .
        </p>
      </div>
      <div className={`sb-field${problems.timezone ? " has-problem" : ""}`}>
        <label className="sb-field-label" htmlFor={`${id}-timezone`}>Time zone</label>
        <input
          id={`${id}-timezone`}
          className="sb-input"
          list={`${id}-zones`}
          value={fields.timezone}
          onChange={(e) => set({ timezone: e.target.value })}
          aria-invalid={!!problems.timezone}
          aria-describedby={described("timezone", false)}
          autoComplete="off"
        />
        <datalist id={`${id}-zones`}>
          {zoneList.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
        {problem("timezone")}
      </div>
      <div className="sb-field">
        <span className="sb-field-label" id={`${id}-missed`}>Missed runs</span>
        <div className="sb-segmented" role="radiogroup" aria-labelledby={`${id}-missed`}>
          {([["once", "Run once when back"], ["skip", "Skip them"]] as const).map(([value, label]) => (
            <button key={value} type="button" role="radio" aria-checked={fields.missed === value} onClick={() => set({ missed: value })}>
              {label}
            </button>
          ))}
        </div>
        {problem("missed")}
        <p className="sb-field-hint" id={`${id}-missed-hint`}>If the server was down when a run was due.</p>
      </div>
      <div className="sb-field">
        <label className="sb-field-label" htmlFor={`${id}-name`}>Name <span className="sb-muted">(optional)</span></label>
        <input id={`${id}-name`} className="sb-input" value={fields.name} maxLength={120} onChange={(e) => set({ name: e.target.value })} placeholder="Morning digest" />
      </div>
      {general && (
        <div className="sb-callout sb-callout-danger" role="alert">
          {general}
        </div>
      )}
      <div className="sb-test-actions">
        <button type="submit" className="sb-btn sb-btn-primary sb-btn-sm" disabled={saving} data-action="save-schedule">
          {saving ? "Saving…" : initial ? "Save schedule" : "Add schedule"}
        </button>
        <button type="button" className="sb-btn sb-btn-ghost sb-btn-sm" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
