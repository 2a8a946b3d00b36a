// The published flows of the workspace that a node may call (GET /api/flows/callable), loaded
// once per editor and shared by every picker that names a flow.
import { useContext, useEffect, useState } from "react";
import { api } from "./api";
import { InspectorContext } from "./context";
import type { JsonSchema } from "./types";

export interface CallableFlow {
  id: number;
  name: string;
  description: string;
  versions: number[];
  input_schema: JsonSchema;
}

const cache = new Map<string, Promise<CallableFlow[]>>();

/** The flows a sub-flow node may call (null while loading), with the load error if any. */
export function useCallableFlows(): { flows: CallableFlow[] | null; error: string } {
  const { workspaceId, flowId } = useContext(InspectorContext);
  const [flows, setFlows] = useState<CallableFlow[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    if (workspaceId == null) return;
    const path = `/flows/callable?workspace=${workspaceId}${flowId ? `&exclude=${flowId}` : ""}`;
    let promise = cache.get(path);
    if (!promise) {
      promise = api<CallableFlow[]>("GET", path);
      promise.catch(() => cache.delete(path));
      cache.set(path, promise);
    }
    let live = true;
    promise.then(
      (found) => live && setFlows(found),
      (e: Error) => live && setError(`The flows could not be listed: ${e.message}`),
    );
    return () => {
      live = false;
    };
  }, [workspaceId, flowId]);
  return { flows, error };
}
