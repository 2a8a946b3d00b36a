// The editor's keyboard shortcuts (ignored while typing in a field or with a dialog open).
import { useEffect } from "react";

export interface KeyActions {
  save: () => void;
  undo: () => void;
  redo: () => void;
  copy: () => boolean;
  cut: () => void;
  paste: () => void;
  duplicate: () => void;
  selectAll: () => void;
  fit: () => void;
  layout: () => void;
  clearSelection: () => void;
}

export function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

export function useEditorKeys(actions: KeyActions, { enabled, readOnly }: { enabled: boolean; readOnly: boolean }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const modKey = e.metaKey || e.ctrlKey;
      if (modKey && e.key.toLowerCase() === "s") {
        e.preventDefault();
        actions.save();
        return;
      }
      if (typing(e.target) || document.querySelector("dialog[open]") || !enabled) return;
      const key = e.key.toLowerCase();
      if (modKey && key === "z" && !e.shiftKey && !readOnly) actions.undo();
      else if (modKey && ((key === "z" && e.shiftKey) || key === "y") && !readOnly) actions.redo();
      else if (modKey && key === "c") actions.copy();
      else if (modKey && key === "x" && !readOnly) actions.cut();
      else if (modKey && key === "v" && !readOnly) actions.paste();
      else if (modKey && key === "d" && !readOnly) actions.duplicate();
      else if (modKey && key === "a") actions.selectAll();
      else if (e.shiftKey && e.code === "Digit1") actions.fit();
      else if (e.shiftKey && key === "l" && !readOnly) actions.layout();
      else if (key === "escape") actions.clearSelection();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [actions, enabled, readOnly]);
}
