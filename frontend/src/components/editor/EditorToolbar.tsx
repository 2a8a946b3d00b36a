// The editor's top bar: back link, flow name, save status, menus, undo/redo, layout, problems,
// triggers (the side panel's tab) and chat link, history, test run and publish.
import type { SaveStatus } from "../../draft";
import { Icon } from "../../icons";
import type { Flow } from "../../types";
import { MenuButton, type MenuItem } from "../ui";

const isMac = navigator.platform.toUpperCase().includes("MAC");
export const mod = isMac ? "⌘" : "Ctrl+";

const STATUS_TEXT: Record<SaveStatus, string> = {
  saved: "Saved",
  dirty: "Unsaved changes",
  saving: "Saving…",
  error: "Couldn't save",
  conflict: "Not saved · conflict",
  readonly: "Read only",
};

export interface ToolbarProps {
  flow: Flow;
  flowsUrl?: string;
  name: string;
  onName: (name: string) => void;
  onRename: () => void;
  readOnly: boolean;
  viewing: boolean;
  status: SaveStatus;
  retrying: boolean;
  lastError: string;
  menus: { add: MenuItem[]; flow: MenuItem[]; edit: MenuItem[]; view: MenuItem[] };
  canUndo: boolean;
  canRedo: boolean;
  onUndo: () => void;
  onRedo: () => void;
  onLayout: () => void;
  onFit: () => void;
  problemCount: number;
  /** Warnings: what will fail when the flow runs; they do not block publishing. */
  warningCount: number;
  runOpen: boolean;
  triggersOpen: boolean;
  onTab: (tab: "problems" | "history" | "run" | "triggers") => void;
  onPublish: () => void;
}

const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

function problemsText(problems: number, warnings: number): string {
  if (!problems) return warnings ? counted(warnings, "warning") : "No problems";
  return warnings ? `${counted(problems, "problem")}, ${counted(warnings, "warning")}` : counted(problems, "problem");
}

export function EditorToolbar(p: ToolbarProps) {
  const statusText = p.status === "error" && p.retrying ? "Couldn't save · retrying" : STATUS_TEXT[p.status];
  return (
    <div className="sb-editor-bar" role="toolbar" aria-label="Flow editor">
      <a className="sb-icon-btn" href={p.flowsUrl ?? "/"} aria-label="Back to flows">
        <Icon name="back" />
      </a>
      <input
        className="sb-flow-name"
        value={p.name}
        aria-label="Flow name"
        readOnly={p.readOnly}
        onChange={(e) => p.onName(e.target.value)}
        onBlur={p.onRename}
        onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
        size={Math.max(8, Math.min(40, p.name.length + 1))}
      />
      <span className={`sb-save-status status-${p.status}`} data-save-status={p.status} role="status" title={p.lastError || undefined}>
        <span className="sb-save-dot" aria-hidden="true" />
        {statusText}
      </span>
      {p.flow.published_version ? <span className="sb-badge sb-badge-neutral">v{p.flow.published_version} live</span> : null}
      <div className="sb-bar-menus">
        {!p.readOnly && <MenuButton label="Add" items={p.menus.add} icon={<Icon name="plus" size={14} />} />}
        <MenuButton label="Flow" items={p.menus.flow} />
        <MenuButton label="Edit" items={p.menus.edit} />
        <MenuButton label="View" items={p.menus.view} />
      </div>
      <div className="sb-bar-spacer" />
      {!p.readOnly && (
        <>
          <button type="button" className="sb-icon-btn" aria-label="Undo" title={`Undo (${mod}Z)`} onClick={p.onUndo} disabled={!p.canUndo || p.viewing}>
            <Icon name="undo" />
          </button>
          <button type="button" className="sb-icon-btn" aria-label="Redo" title={`Redo (${mod}⇧Z)`} onClick={p.onRedo} disabled={!p.canRedo || p.viewing}>
            <Icon name="redo" />
          </button>
          <button type="button" className="sb-icon-btn" aria-label="Tidy up layout" title="Tidy up layout (⇧L)" onClick={p.onLayout} disabled={p.viewing}>
            <Icon name="layout" />
          </button>
        </>
      )}
      <button type="button" className="sb-icon-btn" aria-label="Fit view" title="Fit view (⇧1)" onClick={p.onFit}>
        <Icon name="fit" />
      </button>
      <span className="sb-bar-sep" aria-hidden="true" />
      <button
        type="button"
        className={`sb-btn sb-btn-sm ${p.problemCount ? "sb-btn-warn" : p.warningCount ? "sb-btn-ghost sb-bar-warnings" : "sb-btn-ghost"}`}
        onClick={() => p.onTab("problems")}
        data-problem-total={p.problemCount}
        data-warning-total={p.warningCount}
      >
        <Icon name={p.problemCount || p.warningCount ? "alert" : "check"} size={14} />
        {problemsText(p.problemCount, p.warningCount)}
      </button>
      <button type="button" className={`sb-btn sb-btn-sm sb-btn-ghost${p.triggersOpen ? " is-active" : ""}`} aria-pressed={p.triggersOpen} onClick={() => p.onTab("triggers")} data-link="triggers" title="Schedules, webhooks and other ways this flow starts">
        <Icon name="trigger" size={14} /> Triggers
      </button>
      <a className="sb-btn sb-btn-sm sb-btn-ghost" href={`/flows/${p.flow.id}/chat/`} data-link="chat" title="Talk to this flow in a chat">
        <Icon name="chat" size={14} /> Chat
      </a>
      <button type="button" className="sb-btn sb-btn-sm sb-btn-ghost" onClick={() => p.onTab("history")}>
        <Icon name="history" size={14} /> History
      </button>
      <button type="button" className={`sb-btn sb-btn-sm ${p.runOpen ? "sb-btn-ghost is-active" : "sb-btn-ghost"}`} onClick={() => p.onTab("run")} data-action="open-test-run">
        <Icon name="play" size={14} /> Test run
      </button>
      {!p.readOnly && (
        <button type="button" className="sb-btn sb-btn-sm sb-btn-primary" onClick={p.onPublish}>
          Publish
        </button>
      )}
    </div>
  );
}
