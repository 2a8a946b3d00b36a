// What the pages' plain scripts (static/js, type-checked with JSDoc) find on `window`
// (SwitchboardCanvas is declared by main.tsx, which tsconfig.js.json includes for it).
interface Window {
  /** htmx (static/vendor): the pages call htmx.ajax / htmx.process. */
  htmx: { ajax: (...args: unknown[]) => Promise<void>; process: (el: Element) => void; trigger: (...args: unknown[]) => void };
  /** Browser tests read state-change times and the stream from the run page. */
  __sbStateTimes: { seq: number; kind: string; node_id: string | null; ts: string; received: number; drawn: number; shown: number }[];
  __sbRunStream: unknown;
}
