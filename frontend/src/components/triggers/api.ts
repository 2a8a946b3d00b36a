// The triggers API of a flow: its schedules and its incoming webhook (triggers/api.py).
import { api, ApiError } from "../../api";

export interface Schedule {
  id: number;
  name: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  missed: "once" | "skip";
  next_run_at: string | null;
  last_run_at: string | null;
  last_run_id: number | null;
  last_error: string;
  upcoming: string[];
}

export interface Webhook {
  url: string;
  enabled: boolean;
  mapping: Record<string, string>;
  last_called_at: string | null;
  secret: string | null;
  signature_header: string;
}

export type ScheduleFields = Pick<Schedule, "name" | "cron" | "timezone" | "missed">;

export const schedulesApi = (flowId: number) => ({
  list: () => api<Schedule[]>("GET", `/flows/${flowId}/schedules`),
  create: (body: ScheduleFields) => api<Schedule>("POST", `/flows/${flowId}/schedules`, body),
  update: (id: number, body: Partial<ScheduleFields & { enabled: boolean }>) => api<Schedule>("PATCH", `/flows/${flowId}/schedules/${id}`, body),
  remove: (id: number) => api<null>("DELETE", `/flows/${flowId}/schedules/${id}`),
});

export const webhookApi = (flowId: number) => ({
  get: async (): Promise<Webhook | null> => {
    try {
      return await api<Webhook>("GET", `/flows/${flowId}/webhook`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  },
  enable: () => api<Webhook>("PUT", `/flows/${flowId}/webhook`),
  disable: () => api<null>("DELETE", `/flows/${flowId}/webhook`),
  rotate: () => api<Webhook>("POST", `/flows/${flowId}/webhook/rotate`),
});

/** A field's problem from an API error: `{detail, field}` names it; a 422 from the schema
 * (a list of `{loc, msg}`) is turned into words. */
export function fieldErrors(e: unknown): { fields: Record<string, string>; general: string } {
  if (!(e instanceof ApiError)) return { fields: {}, general: "The server could not be reached. Try again." };
  const field = typeof e.body.field === "string" ? e.body.field : "";
  if (field) return { fields: { [field]: e.message }, general: "" };
  if (Array.isArray(e.body.detail)) {
    const fields: Record<string, string> = {};
    for (const item of e.body.detail as { loc?: string[]; msg?: string }[]) {
      const name = item.loc?.[item.loc.length - 1] ?? "";
      fields[name] = item.msg ?? "This value is not accepted.";
    }
    return { fields, general: "" };
  }
  return { fields: {}, general: e.message };
}

export function when(iso: string | null, zone?: string): string {
  if (!iso) return "—";
  const date = new Date(iso);
  const options: Intl.DateTimeFormatOptions = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  try {
    return date.toLocaleString(undefined, { ...options, timeZone: zone, timeZoneName: "short" });
  } catch {
    return date.toLocaleString(undefined, options);
  }
}
