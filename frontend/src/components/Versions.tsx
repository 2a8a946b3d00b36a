// Version history: who published what and when, view one read-only, compare two, restore one.
import { useState } from "react";
import type { GraphDiff } from "../diff";
import { Icon } from "../icons";
import type { Json, Version } from "../types";
import { timeAgo } from "./ui";

export type Side = number | "draft";

function show(value: Json | undefined): string {
  if (value === undefined) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 140 ? `${text.slice(0, 140)}…` : text || "“”";
}

export function Versions({ versions, loading, readOnly, viewing, onView, onCompare, onRestore, onPublish }: {
  versions: Version[];
  loading: boolean;
  readOnly: boolean;
  viewing: number | null;
  onView: (n: number) => void;
  onCompare: (a: Side, b: Side) => void;
  onRestore: (n: number) => void;
  onPublish: () => void;
}) {
  const [a, setA] = useState<string>("");
  const [b, setB] = useState<string>("draft");
  const base = a || (versions[0] ? String(versions[0].number) : "");
  const parse = (v: string): Side => (v === "draft" ? "draft" : Number(v));
  return (
    <div className="sb-versions">
      {!readOnly && (
        <button type="button" className="sb-btn sb-btn-primary sb-btn-block" onClick={onPublish}>
          Publish a version…
        </button>
      )}
      {versions.length > 0 && (
        <div className="sb-compare" role="group" aria-label="Compare versions">
          <div className="sb-compare-row">
            <label className="sb-visually-hidden" htmlFor="sb-compare-a">
              Compare from
            </label>
            <select id="sb-compare-a" className="sb-input" value={base} onChange={(e) => setA(e.target.value)}>
              {versions.map((v) => (
                <option key={v.number} value={v.number}>
                  v{v.number}
                </option>
              ))}
              <option value="draft">Draft</option>
            </select>
            <span aria-hidden="true">→</span>
            <label className="sb-visually-hidden" htmlFor="sb-compare-b">
              Compare to
            </label>
            <select id="sb-compare-b" className="sb-input" value={b} onChange={(e) => setB(e.target.value)}>
              <option value="draft">Draft</option>
              {versions.map((v) => (
                <option key={v.number} value={v.number}>
                  v{v.number}
                </option>
              ))}
            </select>
            <button type="button" className="sb-btn sb-btn-sm" disabled={!base || base === b} onClick={() => onCompare(parse(base), parse(b))}>
              <Icon name="diff" size={14} /> Compare
            </button>
          </div>
        </div>
      )}
      {loading && <p className="sb-muted sb-small sb-pad">Loading history…</p>}
      {!loading && !versions.length && (
        <div className="sb-panel-empty">
          <p>
            <strong>No versions yet</strong>
            <br />
            Publish the draft to freeze a version that runs can point at.
          </p>
        </div>
      )}
      <ol className="sb-version-list" aria-label="Versions">
        {versions.map((v) => (
          <li key={v.number} className={`sb-version${viewing === v.number ? " is-viewing" : ""}`} data-version={v.number}>
            <div className="sb-version-head">
              <span className="sb-version-number">v{v.number}</span>
              {v.published && <span className="sb-badge sb-badge-success">Published</span>}
              <span className="sb-muted sb-small" title={new Date(v.created_at).toLocaleString()}>
                {timeAgo(v.created_at)}
              </span>
            </div>
            <div className="sb-version-note">{v.note || <span className="sb-muted">No note</span>}</div>
            <div className="sb-muted sb-small">by {v.created_by ?? "someone"}</div>
            <div className="sb-version-actions">
              <button type="button" className="sb-btn sb-btn-ghost sb-btn-xs" onClick={() => onView(v.number)} aria-label={`View version ${v.number}`}>
                <Icon name="eye" size={12} /> View
              </button>
              <button type="button" className="sb-btn sb-btn-ghost sb-btn-xs" onClick={() => onCompare(v.number, "draft")} aria-label={`Compare version ${v.number} with the draft`}>
                <Icon name="diff" size={12} /> Diff with draft
              </button>
              {!readOnly && (
                <button type="button" className="sb-btn sb-btn-ghost sb-btn-xs" onClick={() => onRestore(v.number)} aria-label={`Restore version ${v.number}`}>
                  <Icon name="history" size={12} /> Restore
                </button>
              )}
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}

export function DiffDetails({ diff, labelOf, onPick }: { diff: GraphDiff; labelOf: (id: string) => string; onPick: (id: string) => void }) {
  const entries = [...diff.nodes.entries()].filter(([, change]) => change !== "same");
  const edgesAdded = [...diff.edges.values()].filter((c) => c === "added").length;
  const edgesRemoved = [...diff.edges.values()].filter((c) => c === "removed").length;
  if (!entries.length && !edgesAdded && !edgesRemoved) {
    return <p className="sb-muted sb-pad">The two graphs are identical.</p>;
  }
  return (
    <div className="sb-diff-details">
      <p className="sb-small sb-muted">
        {entries.filter(([, c]) => c === "added").length} added · {entries.filter(([, c]) => c === "removed").length} removed ·{" "}
        {entries.filter(([, c]) => c === "changed").length} changed · {edgesAdded + edgesRemoved} connection changes
      </p>
      <ul className="sb-diff-list" aria-label="Changes">
        {entries.map(([id, change]) => (
          <li key={id} className={`sb-diff-item diff-${change}`} data-diff-node={id} data-diff-change={change}>
            <button type="button" className="sb-diff-node" onClick={() => onPick(id)}>
              <span className={`sb-diff-chip diff-${change}`}>{change}</span>
              <strong>{labelOf(id)}</strong> <code className="sb-muted">{id}</code>
            </button>
            {diff.fields.get(id)?.map((f) => (
              <div key={f.path} className="sb-diff-field">
                <code>{f.path || "config"}</code>
                <div className="sb-diff-before">
                  <span aria-label="before">−</span> {show(f.before)}
                </div>
                <div className="sb-diff-after">
                  <span aria-label="after">+</span> {show(f.after)}
                </div>
              </div>
            ))}
          </li>
        ))}
      </ul>
    </div>
  );
}
