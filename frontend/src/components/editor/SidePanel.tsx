// The editor's side panel: Inspector, Problems, History, Test run and Triggers tabs.
import type { ReactNode } from "react";

export type Tab = "inspect" | "problems" | "history" | "run" | "triggers";

export function SidePanel({ tab, onTab, problemCount, warningCount, children }: {
  tab: Tab;
  onTab: (tab: Tab) => void;
  problemCount: number;
  warningCount: number;
  children: ReactNode;
}) {
  const count = problemCount ? ` (${problemCount})` : warningCount ? ` (${warningCount} warning${warningCount === 1 ? "" : "s"})` : "";
  const tabs: [Tab, string][] = [
    ["inspect", "Inspector"],
    ["problems", `Problems${count}`],
    ["history", "History"],
    ["run", "Test run"],
    ["triggers", "Triggers"],
  ];
  return (
    <aside className="sb-side" aria-label="Details">
      <div className="sb-tabs" role="tablist" aria-label="Panels">
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`sb-tab-${id}`}
            aria-selected={tab === id}
            aria-controls={`sb-tabpanel-${id}`}
            className={id !== "problems" ? "" : problemCount ? "has-problems" : warningCount ? "has-warnings" : ""}
            onClick={() => onTab(id)}
          >
            {label}
          </button>
        ))}
      </div>
      <div className="sb-tabpanel" role="tabpanel" id={`sb-tabpanel-${tab}`} aria-labelledby={`sb-tab-${tab}`}>
        {children}
      </div>
    </aside>
  );
}
