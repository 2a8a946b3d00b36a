// The knowledge bases a Retrieve or Agent node searches, picked from the workspace's own
// (GET /api/knowledge-bases): names are matched exactly when the step runs, so a typed name
// that no knowledge base has would only fail then. A name the workspace lacks stays listed,
// flagged, until it is unticked (validation warns about it too: graph.W001, under the field).
import { useContext, useEffect, useState } from "react";
import { api } from "../api";
import { InspectorContext } from "../context";

interface KnowledgeBase {
  id: number;
  name: string;
  documents: number;
}

const cache = new Map<number, Promise<KnowledgeBase[]>>();

function useKnowledgeBases(): { bases: KnowledgeBase[] | null; error: string } {
  const { workspaceId } = useContext(InspectorContext);
  const [bases, setBases] = useState<KnowledgeBase[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (workspaceId == null) return;
    let promise = cache.get(workspaceId);
    if (!promise) {
      promise = api<KnowledgeBase[]>("GET", `/knowledge-bases?workspace=${workspaceId}`);
      promise.catch(() => cache.delete(workspaceId));
      cache.set(workspaceId, promise);
    }
    let live = true;
    promise.then(
      (found) => live && setBases(found),
      (e: Error) => live && setError(`The knowledge bases could not be listed: ${e.message}`),
    );
    return () => {
      live = false;
    };
  }, [workspaceId]);
  return { bases, error };
}

export function KnowledgePicker({ value, onChange, readOnly, fallback }: {
  value: string[];
  onChange: (v: string[]) => void;
  readOnly: boolean;
  fallback: () => JSX.Element;
}) {
  const { workspaceId } = useContext(InspectorContext);
  const { bases, error } = useKnowledgeBases();
  if (error) {
    return (
      <>
        <p className="sb-muted sb-small" role="alert">{error} Type the names instead.</p>
        {fallback()}
      </>
    );
  }
  if (bases === null) return <span className="sb-muted sb-small">Loading…</span>;
  const known = new Set(bases.map((b) => b.name));
  const missing = value.filter((name) => !known.has(name));
  const toggle = (name: string, on: boolean) => onChange(on ? [...value, name] : value.filter((x) => x !== name));
  const page = `/knowledge/${workspaceId != null ? `?workspace=${workspaceId}` : ""}`;
  return (
    <div className="sb-checklist" data-knowledge-picker>
      {bases.length === 0 && (
        <p className="sb-muted sb-small">
          This workspace has no knowledge bases yet. <a href={page} target="_blank" rel="noreferrer">Create one on the Knowledge page</a>, then pick it here.
        </p>
      )}
      {bases.map((b) => (
        <label key={b.id} className="sb-check">
          <input type="checkbox" checked={value.includes(b.name)} disabled={readOnly} onChange={(e) => toggle(b.name, e.target.checked)} />
          {b.name}
          <span className="sb-muted sb-small"> · {b.documents} document{b.documents === 1 ? "" : "s"}</span>
        </label>
      ))}
      {missing.map((name) => (
        <label key={`missing:${name}`} className="sb-check is-missing" data-missing-base={name}>
          <input type="checkbox" checked disabled={readOnly} onChange={() => toggle(name, false)} />
          {name}
          <span className="sb-missing-note sb-small"> · not in this workspace</span>
        </label>
      ))}
    </div>
  );
}
