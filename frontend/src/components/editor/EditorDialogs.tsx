// The editor's dialogs: publish a version, restore one into the draft, and a save conflict.
import type { Conflict } from "../../draft";
import type { GraphProblem } from "../../types";
import { Modal } from "../ui";
import type { Versioning } from "../../hooks/useVersions";

const WARNINGS_SHOWN = 3;

export function PublishDialog({ v, busy, problemCount, warnings }: { v: Versioning; busy: boolean; problemCount: number; warnings: GraphProblem[] }) {
  return (
    <Modal
      title="Publish a version"
      open={v.publishOpen}
      onClose={() => v.setPublishOpen(false)}
      actions={
        <>
          <button type="button" className="sb-btn" onClick={() => v.setPublishOpen(false)}>
            Cancel
          </button>
          <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={v.publish}>
            Publish
          </button>
        </>
      }
    >
      <p className="sb-muted">Publishing freezes the draft as a new version. Runs always point at the exact version they ran.</p>
      {warnings.length > 0 && (
        <div className="sb-callout sb-callout-warning" data-publish-warnings>
          <strong>It publishes with {warnings.length === 1 ? "a warning" : `${warnings.length} warnings`}:</strong>
          {warnings.slice(0, WARNINGS_SHOWN).map((w, i) => (
            <div key={i}>{w.message}</div>
          ))}
          {warnings.length > WARNINGS_SHOWN && <div>… and {warnings.length - WARNINGS_SHOWN} more under Problems.</div>}
        </div>
      )}
      <label htmlFor="sb-publish-note">Note</label>
      <textarea
        id="sb-publish-note"
        className="sb-input"
        rows={3}
        maxLength={500}
        placeholder="What changed?"
        value={v.publishNote}
        onChange={(e) => v.setPublishNote(e.target.value)}
      />
      {v.publishError && (
        <p className="sb-error" role="alert">
          {v.publishError}
          {problemCount ? ` ${problemCount} problem${problemCount === 1 ? "" : "s"} listed under Problems.` : ""}
        </p>
      )}
    </Modal>
  );
}

export function RestoreDialog({ v, busy }: { v: Versioning; busy: boolean }) {
  const n = v.restoreAsk;
  return (
    <Modal
      title={`Restore v${n ?? ""} into the draft?`}
      open={n !== null}
      onClose={() => v.setRestoreAsk(null)}
      actions={
        <>
          <button type="button" className="sb-btn" onClick={() => v.setRestoreAsk(null)}>
            Cancel
          </button>
          <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={() => n !== null && v.restore(n)}>
            Restore v{n}
          </button>
        </>
      }
    >
      <p>The draft is replaced by v{n}. Published versions do not change, and Undo brings the current draft back.</p>
    </Modal>
  );
}

export function ConflictDialog({ conflict, busy, onReload, onCopy, onOverwrite }: {
  conflict: Conflict | null;
  busy: boolean;
  onReload: () => void;
  onCopy: () => void;
  onOverwrite: () => void;
}) {
  return (
    <Modal
      title="Someone else saved this flow"
      tone="warning"
      open={!!conflict}
      onClose={() => undefined}
      actions={
        <>
          <button type="button" className="sb-btn" disabled={busy} onClick={onReload}>
            Reload their version
          </button>
          <button type="button" className="sb-btn" disabled={busy} onClick={onCopy}>
            Save mine as a copy
          </button>
          <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={onOverwrite}>
            Overwrite with mine
          </button>
        </>
      }
    >
      <p className="sb-conflict-text">
        This flow was saved in another tab or by another person (now at revision {conflict?.currentRevision}) after you opened it. Your changes have{" "}
        <strong>not</strong> been saved, and nothing is lost: they are still here.
      </p>
      <ul className="sb-conflict-options">
        <li>
          <strong>Reload their version</strong> to continue from what was saved (Undo brings yours back).
        </li>
        <li>
          <strong>Save mine as a copy</strong> to keep both: yours becomes a new flow.
        </li>
        <li>
          <strong>Overwrite with mine</strong> to make your version the newest draft.
        </li>
      </ul>
    </Modal>
  );
}
