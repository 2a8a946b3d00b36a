// The editor's side panel: Inspector, Problems, History, Test run and Triggers tabs.
import type { ReactNode } from "react";

export type Tab = "inspect" | "problems" | "history" | "run" | "triggers";

export function SidePanel({ tab, onTab, problemCount, children }: { tab: Tab; onTab: (tab: Tab) => void; problemCount: number; children: ReactNode }) {
  const tabs: [Tab, string][] = [
    ["inspect", "Inspector"],
    ["problems", `Problems${problemCount ? ` (${problemCount})` : ""}`],
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
            className={id === "problems" && problemCount ? "has-problems" : ""}
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
