// The toolbar's Add, Flow, Edit and View menus.
import type { NodeTypeInfo } from "../../types";
import type { MenuItem } from "../ui";
import { mod } from "./EditorToolbar";

const SEPARATOR: MenuItem = { label: "", onSelect: () => undefined, separator: true };

export interface MenuActions {
  readOnly: boolean;
  types: NodeTypeInfo[];
  hasSelection: boolean;
  hasNodeSelection: boolean;
  canUndo: boolean;
  canRedo: boolean;
  showPalette: boolean;
  showMinimap: boolean;
  snap: boolean;
  addNode: (type: string) => void;
  undo: () => void;
  redo: () => void;
  cut: () => void;
  copy: () => void;
  paste: () => void;
  duplicate: () => void;
  deleteSelection: () => void;
  selectAll: () => void;
  save: () => void;
  fit: () => void;
  zoomIn: () => void;
  zoomOut: () => void;
  layout: () => void;
  togglePalette: () => void;
  toggleMinimap: () => void;
  toggleSnap: () => void;
  exportJson: () => void;
  duplicateFlow: () => void;
  openPublish: () => void;
  openHistory: () => void;
  openProblems: () => void;
}

export function editorMenus(a: MenuActions): { add: MenuItem[]; flow: MenuItem[]; edit: MenuItem[]; view: MenuItem[] } {
  return {
    add: a.types.map((t) => ({ label: `${t.label}  ·  ${t.category}`, onSelect: () => a.addNode(t.type), disabled: a.readOnly })),
    edit: [
      { label: "Undo", shortcut: `${mod}Z`, onSelect: a.undo, disabled: a.readOnly || !a.canUndo },
      { label: "Redo", shortcut: `${mod}⇧Z`, onSelect: a.redo, disabled: a.readOnly || !a.canRedo },
      SEPARATOR,
      { label: "Cut", shortcut: `${mod}X`, onSelect: a.cut, disabled: a.readOnly || !a.hasNodeSelection },
      { label: "Copy", shortcut: `${mod}C`, onSelect: a.copy, disabled: !a.hasNodeSelection },
      { label: "Paste", shortcut: `${mod}V`, onSelect: a.paste, disabled: a.readOnly },
      { label: "Duplicate", shortcut: `${mod}D`, onSelect: a.duplicate, disabled: a.readOnly || !a.hasNodeSelection },
      { label: "Delete", shortcut: "⌫", onSelect: a.deleteSelection, disabled: a.readOnly || !a.hasSelection },
      SEPARATOR,
      { label: "Select all", shortcut: `${mod}A`, onSelect: a.selectAll },
      { label: "Save now", shortcut: `${mod}S`, onSelect: a.save, disabled: a.readOnly },
    ],
    view: [
      { label: "Fit view", shortcut: "⇧1", onSelect: a.fit },
      { label: "Zoom in", shortcut: `${mod}+`, onSelect: a.zoomIn },
      { label: "Zoom out", shortcut: `${mod}−`, onSelect: a.zoomOut },
      { label: "Tidy up (auto-layout)", shortcut: "⇧L", onSelect: a.layout, disabled: a.readOnly },
      SEPARATOR,
      { label: "Node palette", onSelect: a.togglePalette, checked: a.showPalette, disabled: a.readOnly },
      { label: "Minimap", onSelect: a.toggleMinimap, checked: a.showMinimap },
      { label: "Snap to grid", onSelect: a.toggleSnap, checked: a.snap },
    ],
    flow: [
      { label: "Export as JSON", onSelect: a.exportJson },
      { label: "Duplicate flow", onSelect: a.duplicateFlow, disabled: a.readOnly },
      SEPARATOR,
      { label: "Publish a version…", onSelect: a.openPublish, disabled: a.readOnly },
      { label: "Version history", onSelect: a.openHistory },
      { label: "Problems", onSelect: a.openProblems },
    ],
  };
}

/** Download the flow's export; a link, not a navigation (leaving would trip the unsaved guard). */
export function downloadExport(flowId: number): void {
  const link = document.createElement("a");
  link.href = `/api/flows/${flowId}/export`;
  link.download = "";
  link.click();
}
