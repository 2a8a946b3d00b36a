// The editor's Triggers tab: the flow's schedules (add, edit, pause, delete, next fire times) and
// its incoming webhook. Both start the published version; viewers see them read only.
import { useCallback, useEffect, useState } from "react";
import { Icon } from "../../icons";
import { fieldErrors, schedulesApi, when, type Schedule, type ScheduleFields } from "./api";
import { ScheduleForm } from "./ScheduleForm";
import { WebhookSection } from "./WebhookSection";

export default function TriggersPanel({ flowId, canEdit, published }: { flowId: number; canEdit: boolean; published: boolean }) {
  const schedules = schedulesApi(flowId);
  const [list, setList] = useState<Schedule[] | null>(null);
  const [editing, setEditing] = useState<number | "new" | null>(null);
  const [error, setError] = useState("");

  const load = useCallback(() => {
    schedulesApi(flowId).list().then(setList, (e) => setError(fieldErrors(e).general));
  }, [flowId]);
  useEffect(load, [load]);

  const replace = (s: Schedule) => setList((l) => (l ?? []).map((x) => (x.id === s.id ? s : x)));
  const save = async (fields: ScheduleFields) => {
    if (editing === "new") {
      const created = await schedules.create(fields);
      setList((l) => [...(l ?? []), created]);
    } else if (editing !== null) {
      replace(await schedules.update(editing, fields));
    }
    setEditing(null);
  };
  const run = async (action: () => Promise<void>) => {
    setError("");
    try {
      await action();
    } catch (e) {
      setError(fieldErrors(e).general);
    }
  };
  const toggle = (s: Schedule) => run(async () => replace(await schedules.update(s.id, { enabled: !s.enabled })));
  const remove = (s: Schedule) =>
    window.confirm(`Delete the schedule “${s.name || s.cron}”?`) &&
    run(async () => {
      await schedules.remove(s.id);
      setList((l) => (l ?? []).filter((x) => x.id !== s.id));
    });

  return (
    <div className="sb-test-run sb-triggers" data-slot="triggers">
      {!published && (
        <div className="sb-callout" role="note" data-not-published>
          <span>
            Triggers start the <strong>published</strong> version, and this flow has none yet: publish it for its schedules and webhook to run.
          </span>
        </div>
      )}
      {!canEdit && <p className="sb-muted sb-small">Your role can see this flow's triggers but not change them.</p>}
      <section className="sb-trigger-section" aria-labelledby="sb-schedules-title">
        <div className="sb-test-head">
          <h3 className="sb-section-title" id="sb-schedules-title">Schedules</h3>
          {canEdit && editing === null && list && list.length > 0 && (
            <button type="button" className="sb-link-btn" onClick={() => setEditing("new")} data-action="add-schedule">
              <Icon name="plus" size={12} /> Add schedule
            </button>
          )}
        </div>
        {list === null && !error && <p className="sb-muted sb-small">Loading…</p>}
        {list && list.length === 0 && editing === null && (
          <div className="sb-trigger-empty" data-schedules-empty>
            <p>No schedules yet. A schedule runs this flow on a timetable, such as every weekday at 09:00.</p>
            {canEdit && (
              <button type="button" className="sb-btn sb-btn-sm" onClick={() => setEditing("new")} data-action="add-schedule">
                <Icon name="plus" size={14} /> Add schedule
              </button>
            )}
          </div>
        )}
        {editing === "new" && <ScheduleForm initial={null} onSave={save} onCancel={() => setEditing(null)} />}
        <ul className="sb-schedule-list">
          {(list ?? []).map((s) =>
            editing === s.id ? (
              <li key={s.id}>
                <ScheduleForm initial={s} onSave={save} onCancel={() => setEditing(null)} />
              </li>
            ) : (
              <li key={s.id} className={`sb-schedule${s.enabled ? "" : " is-paused"}`} data-schedule={s.id}>
                <div className="sb-schedule-head">
                  <code className="sb-schedule-cron">{s.cron}</code>
                  {s.name && <span className="sb-schedule-name">{s.name}</span>}
                  <label className="sb-switch sb-schedule-switch" title={s.enabled ? "Pause" : "Resume"}>
                    <input type="checkbox" checked={s.enabled} disabled={!canEdit} onChange={() => void toggle(s)} aria-label={`Schedule ${s.cron} enabled`} />
                    <span className="sb-switch-track" aria-hidden="true" />
                  </label>
                </div>
                <p className="sb-small sb-muted">
                  {s.timezone} · missed runs: {s.missed === "once" ? "run once when back" : "skipped"}
                </p>
                <p className="sb-small" data-next-run>
                  {s.enabled ? (
                    <>
                      Next: <strong>{when(s.next_run_at, s.timezone)}</strong>
                      {s.upcoming.length > 1 && <span className="sb-muted"> · then {s.upcoming.slice(1).map((u) => when(u, s.timezone)).join(", ")}</span>}
                    </>
                  ) : (
                    <span className="sb-muted">Paused: it will not run until resumed.</span>
                  )}
                </p>
                {s.last_error && <p className="sb-field-problem">Last time: {s.last_error}</p>}
                {s.last_run_id && (
                  <p className="sb-small sb-muted">
                    Last run <a href={`/runs/${s.last_run_id}/`}>#{s.last_run_id}</a>
                  </p>
                )}
                {canEdit && (
                  <div className="sb-schedule-actions">
                    <button type="button" className="sb-link-btn" onClick={() => setEditing(s.id)} data-action="edit-schedule">Edit</button>
                    <button type="button" className="sb-link-btn sb-danger-link" onClick={() => void remove(s)} data-action="delete-schedule">
                      <Icon name="trash" size={12} /> Delete
                    </button>
                  </div>
                )}
              </li>
            ),
          )}
        </ul>
        {error && <div className="sb-callout sb-callout-danger" role="alert">{error}</div>}
      </section>
      <WebhookSection flowId={flowId} canEdit={canEdit} />
      <p className="sb-field-hint">
        Runs started by a trigger show it on the run page. <a href={`/flows/${flowId}/triggers/`}>Open the Triggers page</a> for the webhook's input mapping.
      </p>
    </div>
  );
}
