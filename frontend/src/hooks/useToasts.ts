// Short messages in the corner of the editor that go away by themselves.
import { useCallback, useState } from "react";

export interface Toast {
  id: number;
  text: string;
  kind: string;
}

export type PushToast = (text: string, kind?: string) => void;

export function useToasts(): { toasts: Toast[]; push: PushToast } {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((text: string, kind = "info") => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t, { id, text, kind }]);
    window.setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 5000);
  }, []);
  return { toasts, push };
}
