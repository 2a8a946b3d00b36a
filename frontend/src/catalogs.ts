// What the server offers to pick from: registered tools (with their argument and result
// schemas) and configured models (with prices). Loaded once per page; a server without an
// endpoint (or an error) gives null, and the pickers fall back to typing the name.
import { useEffect, useState } from "react";
import { api } from "./api";
import type { JsonSchema } from "./types";

export interface ToolInfo {
  name: string;
  description: string;
  arguments_schema: JsonSchema;
  result_schema: JsonSchema | null;
}

export interface ModelInfo {
  name: string;
  provider: string;
  model: string;
  input_per_million: number | null;
  output_per_million: number | null;
  is_default: boolean;
}

export interface Catalogs {
  tools: ToolInfo[] | null;
  models: ModelInfo[] | null;
}

const cache = new Map<string, Promise<unknown>>();

function load<T>(path: string): Promise<T | null> {
  let p = cache.get(path) as Promise<T | null> | undefined;
  if (!p) {
    p = api<T>("GET", path).then(
      (value) => (Array.isArray(value) ? value : null) as T | null,
      () => null,
    );
    cache.set(path, p);
  }
  return p;
}

export function useCatalogs(): Catalogs {
  const [catalogs, setCatalogs] = useState<Catalogs>({ tools: null, models: null });
  useEffect(() => {
    let live = true;
    void Promise.all([load<ToolInfo[]>("/tools"), load<ModelInfo[]>("/models")]).then(([tools, models]) => {
      if (live) setCatalogs({ tools, models });
    });
    return () => {
      live = false;
    };
  }, []);
  return catalogs;
}

/** "$0.15 / $0.60 per M tokens", "free", or "" when the price is not known. */
export function priceText(m: ModelInfo): string {
  if (m.input_per_million === null || m.output_per_million === null) return "";
  if (!m.input_per_million && !m.output_per_million) return "free";
  const usd = (n: number) => `$${n < 1 ? n.toFixed(2) : n.toFixed(n % 1 ? 2 : 0)}`;
  return `${usd(m.input_per_million)} in / ${usd(m.output_per_million)} out per 1M tokens`;
}
