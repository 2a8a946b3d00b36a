// What the pages' plain scripts (static/js, type-checked with JSDoc) find on `window`
// (SwitchboardCanvas is declared by main.tsx).
interface Window {
  /** htmx (static/vendor): the pages call htmx.ajax / htmx.process. */
  htmx: { ajax: (...args: unknown[]) => Promise<void>; process: (el: Element) => void; trigger: (...args: unknown[]) => void };
  /** Browser tests read state-change times and the stream from the run page. */
  __sbStateTimes: Record<string, number>;
  __sbRunStream: unknown;
}
