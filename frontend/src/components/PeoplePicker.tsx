// Pick approval assignees from the workspace's members or groups.
import { useContext, useEffect, useState } from "react";
import { api } from "../api";
import { InspectorContext } from "../context";
import { Icon } from "../icons";
import type { Json, People } from "../types";

const cache = new Map<number, Promise<People>>();

function loadPeople(workspaceId: number): Promise<People> {
  let promise = cache.get(workspaceId);
  if (!promise) {
    promise = api<People>("GET", `/workspaces/${workspaceId}/people`);
    promise.catch(() => cache.delete(workspaceId));
    cache.set(workspaceId, promise);
  }
  return promise;
}

export function PeoplePicker({ id, kind, value, onChange, readOnly }: {
  id: string;
  kind: "users" | "groups";
  value: string[];
  onChange: (value: Json) => void;
  readOnly: boolean;
}) {
  const { workspaceId } = useContext(InspectorContext);
  const [people, setPeople] = useState<People | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (workspaceId == null) return;
    loadPeople(workspaceId).then(setPeople, (e) => setError(e.message));
  }, [workspaceId]);
  const options =
    kind === "users"
      ? (people?.users ?? []).map((u) => ({ value: u.username, label: u.display_name === u.username ? u.username : `${u.display_name} (${u.username})` }))
      : (people?.groups ?? []).map((g) => ({ value: g.name, label: g.name }));
  const remaining = options.filter((o) => !value.includes(o.value));
  const labelOf = (v: string) => options.find((o) => o.value === v)?.label ?? v;
  return (
    <div className="sb-people">
      <div className="sb-tags">
        {value.map((v) => (
          <span key={v} className={`sb-tag${people && !options.some((o) => o.value === v) ? " is-unknown" : ""}`}>
            {kind === "users" ? <span className="sb-avatar sb-avatar-xs">{v.slice(0, 1).toUpperCase()}</span> : null}
            {labelOf(v)}
            {!readOnly && (
              <button type="button" aria-label={`Remove ${v}`} onClick={() => onChange(value.filter((x) => x !== v))}>
                <Icon name="close" size={10} />
              </button>
            )}
          </span>
        ))}
        {!value.length && <span className="sb-muted sb-small">{kind === "users" ? "Nobody yet" : "No group yet"}</span>}
      </div>
      {!readOnly && (
        <select
          id={id}
          className="sb-input"
          value=""
          disabled={!people || !remaining.length}
          onChange={(e) => e.target.value && onChange([...value, e.target.value])}
        >
          <option value="">{!people
              ? "Loading…"
              : remaining.length
                ? `Add ${kind === "users" ? "a person" : "a group"}…`
                : options.length
                  ? "Everyone is added"
                  : `No ${kind === "users" ? "members" : "groups"} to add`}</option>
          {remaining.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
      {error && <div className="sb-field-problem">{error}</div>}
      {people && kind === "groups" && !options.length && <div className="sb-field-hint">No groups have members in this workspace.</div>}
    </div>
  );
}
