// Small stroke icons (16px grid). A node type without an icon of its own (one the server added
// later) gets the generic node icon.
import type { ReactElement } from "react";

/** Whether there is an icon of this name (else Icon draws the generic node icon). */
export function hasIcon(name: string): boolean {
  return name in paths;
}

const paths: Record<string, string> = {
  input: "M2.5 8h7m0 0L7 5.5M9.5 8 7 10.5M10 3h2.5A1.5 1.5 0 0 1 14 4.5v7a1.5 1.5 0 0 1-1.5 1.5H10",
  prompt: "M8 2.5l1.3 3.2 3.2 1.3-3.2 1.3L8 11.5 6.7 8.3 3.5 7l3.2-1.3zM12.5 11l.6 1.4 1.4.6-1.4.6-.6 1.4-.6-1.4-1.4-.6 1.4-.6z",
  tool: "M10.5 2.5a3 3 0 0 0-2.8 4.1L2.8 11.5a1.2 1.2 0 0 0 1.7 1.7l4.9-4.9a3 3 0 0 0 4.1-2.8l-1.8 1.8-1.8-.5-.5-1.8z",
  router: "M2.5 8h4m0 0c2 0 2-4.5 4-4.5h3m-7 4.5c2 0 2 4.5 4 4.5h3M11.5 1.5l2 2-2 2m0 5 2 2-2 2",
  evaluator: "M3 8.5l3 3 7-7",
  approval: "M8 7.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5zM3 14c.5-2.8 2.5-4.5 5-4.5s4.5 1.7 5 4.5",
  retrieve: "M8.5 13.5h-5v-11h5l3 3v2M5.5 6h3M5.5 8.5h2M11 13a2 2 0 1 0 0-4 2 2 0 0 0 0 4zm1.5-.5 1.5 1.5",
  memory: "M2.5 4.5A1.5 1.5 0 0 1 4 3h8a1.5 1.5 0 0 1 1.5 1.5v5A1.5 1.5 0 0 1 12 11H7l-3 2.5V11a1.5 1.5 0 0 1-1.5-1.5zM8 5v2.2l1.5 1",
  flow: "M2.5 2.5h11v11h-11zM5 8h6m0 0L9 6m2 2-2 2",
  map: "M6 4h7.5M6 8h7.5M6 12h7.5M2.5 4h.01M2.5 8h.01M2.5 12h.01",
  agent: "M4 5.5h8a1.5 1.5 0 0 1 1.5 1.5v4.5A1.5 1.5 0 0 1 12 13H4a1.5 1.5 0 0 1-1.5-1.5V7A1.5 1.5 0 0 1 4 5.5zM8 5.5V3m0 0h.01M6 9h.01M10 9h.01",
  node: "M4 3.5h8a1 1 0 0 1 1 1v7a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1v-7a1 1 0 0 1 1-1zM1.5 8H3m10 0h1.5",
  trigger: "M9 1.5 3.5 9H8l-1 5.5L12.5 7H8z",
  chat: "M2.5 4.5A1.5 1.5 0 0 1 4 3h8a1.5 1.5 0 0 1 1.5 1.5v5A1.5 1.5 0 0 1 12 11H7l-3 2.5V11a1.5 1.5 0 0 1-1.5-1.5zM5.5 6h5M5.5 8h3",
  output: "M6.5 8h7m0 0L11 5.5M13.5 8 11 10.5M6 3H3.5A1.5 1.5 0 0 0 2 4.5v7A1.5 1.5 0 0 0 3.5 13H6",
  undo: "M5 3.5 2.5 6 5 8.5M2.5 6h7a4 4 0 0 1 0 8H7",
  redo: "M11 3.5 13.5 6 11 8.5M13.5 6h-7a4 4 0 0 0 0 8H9",
  layout: "M2.5 3.5h4v3h-4zM9.5 9.5h4v3h-4zM9.5 3.5h4v3h-4zM6.5 5h3M11.5 6.5v3",
  fit: "M2.5 6V2.5H6M10 2.5h3.5V6M13.5 10v3.5H10M6 13.5H2.5V10",
  history: "M2.5 8a5.5 5.5 0 1 0 1.6-3.9M2.5 2.5v2.5H5M8 5v3l2 1.5",
  alert: "M8 5.5v3M8 11h.01M7.1 2.5 1.8 11.8A1 1 0 0 0 2.7 13.3h10.6a1 1 0 0 0 .9-1.5L8.9 2.5a1 1 0 0 0-1.8 0z",
  check: "M3 8.5l3 3 7-7",
  more: "M3.5 8h.01M8 8h.01M12.5 8h.01",
  back: "M10 3.5 5.5 8l4.5 4.5",
  close: "M4 4l8 8M12 4l-8 8",
  plus: "M8 3v10M3 8h10",
  trash: "M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.6 8.5h5.8l.6-8.5",
  copy: "M5.5 5.5V3h7.5v7.5h-2.5M3 5.5h7.5V13H3z",
  diff: "M5 2.5v11M11 2.5v11M2.5 5H7.5M8.5 11h5",
  search: "M7 11.5a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zm3.2-1.3 3.3 3.3",
  eye: "M1.5 8S4 3.5 8 3.5 14.5 8 14.5 8 12 12.5 8 12.5 1.5 8 1.5 8zM8 10a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
  retry: "M13 8a5 5 0 1 1-1.5-3.5M13 2.5v2.5h-2.5",
  play: "M5 3.5v9l7-4.5z",
  up: "M8 12.5v-9M4.5 7 8 3.5 11.5 7",
  down: "M8 3.5v9M4.5 9 8 12.5 11.5 9",
  grip: "M6 4h.01M10 4h.01M6 8h.01M10 8h.01M6 12h.01M10 12h.01",
};

export function Icon({ name, size = 16, label }: { name: string; size?: number; label?: string }): ReactElement {
  const shown = name in paths ? name : "node";
  const d = paths[shown];
  const a11y = label ? { role: "img", "aria-label": label } : { "aria-hidden": true };
  return (
    <svg width={size} height={size} viewBox="0 0 16 16" fill="none" data-icon={shown} {...a11y}>
      <path d={d} stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
