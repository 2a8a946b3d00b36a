// The flow's incoming webhook: its URL, on/off, and a new secret shown once (never read back).
import { useEffect, useState } from "react";
import { Icon } from "../../icons";
import { timeAgo } from "../ui";
import { fieldErrors, webhookApi, type Webhook } from "./api";

export function WebhookSection({ flowId, canEdit }: { flowId: number; canEdit: boolean }) {
  const hooks = webhookApi(flowId);
  const [hook, setHook] = useState<Webhook | null | undefined>(undefined);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState("");

  useEffect(() => {
    hooks.get().then(setHook, (e) => setError(fieldErrors(e).general));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId]);

  const act = async (action: () => Promise<Webhook | null>, after?: (h: Webhook | null) => void) => {
    setBusy(true);
    setError("");
    try {
      const result = await action();
      if (result?.secret) setSecret(result.secret);
      if (after) after(result);
      else if (result) setHook({ ...result, secret: null });
    } catch (e) {
      setError(fieldErrors(e).general);
    } finally {
      setBusy(false);
    }
  };
  const copy = (text: string, what: string) => {
    void navigator.clipboard?.writeText(text).then(() => setCopied(what));
  };

  return (
    <section className="sb-trigger-section" aria-labelledby="sb-webhook-title" data-webhook>
      <div className="sb-test-head">
        <h3 className="sb-section-title" id="sb-webhook-title">Webhook</h3>
        {hook && (
          <span className={`sb-badge ${hook.enabled ? "sb-badge-success" : "sb-badge-neutral"}`} data-webhook-state={hook.enabled ? "on" : "off"}>
            {hook.enabled ? "On" : "Off"}
          </span>
        )}
      </div>
      {hook === undefined && !error && <p className="sb-muted sb-small">Loading…</p>}
      {hook === null && (
        <div className="sb-trigger-empty" data-webhook-empty>
          <p>No webhook yet. A webhook gives this flow its own URL: a signed POST with a JSON body starts a run of the published version.</p>
          {canEdit && (
            <button type="button" className="sb-btn sb-btn-sm" disabled={busy} onClick={() => act(hooks.enable)} data-action="enable-webhook">
              <Icon name="plus" size={14} /> Create webhook
            </button>
          )}
        </div>
      )}
      {hook && (
        <>
          <div className="sb-field">
            <label className="sb-field-label" htmlFor="sb-webhook-url">URL</label>
            <div className="sb-copy-row">
              <input id="sb-webhook-url" className="sb-input sb-code" readOnly value={hook.url} onFocus={(e) => e.target.select()} />
              <button type="button" className="sb-icon-btn" aria-label="Copy the URL" onClick={() => copy(hook.url, "url")}>
                <Icon name={copied === "url" ? "check" : "copy"} size={14} />
              </button>
            </div>
            <p className="sb-field-hint">
              Sign the body with the secret in the <code>{hook.signature_header}</code> header.{" "}
              {hook.last_called_at ? `Last called ${timeAgo(hook.last_called_at)}.` : "Never called yet."}
            </p>
          </div>
          {secret && (
            <div className="sb-callout sb-callout-people" role="status" data-webhook-secret>
              <strong>Copy the secret now: it is shown only once.</strong>
              <div className="sb-copy-row">
                <code className="sb-secret">{secret}</code>
                <button type="button" className="sb-icon-btn" aria-label="Copy the secret" onClick={() => copy(secret, "secret")}>
                  <Icon name={copied === "secret" ? "check" : "copy"} size={14} />
                </button>
              </div>
              <button type="button" className="sb-link-btn" onClick={() => setSecret(null)}>I have stored it</button>
            </div>
          )}
          {canEdit && (
            <div className="sb-test-actions">
              {hook.enabled ? (
                <button type="button" className="sb-btn sb-btn-sm" disabled={busy} onClick={() => act(hooks.disable, () => setHook({ ...hook, enabled: false }))} data-action="disable-webhook">
                  Turn off
                </button>
              ) : (
                <button type="button" className="sb-btn sb-btn-sm" disabled={busy} onClick={() => act(hooks.enable)} data-action="enable-webhook">
                  Turn on
                </button>
              )}
              <button
                type="button"
                className="sb-btn sb-btn-sm sb-btn-ghost"
                disabled={busy}
                onClick={() => window.confirm("Make a new secret? Callers using the old one will be refused.") && act(hooks.rotate)}
                data-action="rotate-secret"
              >
                <Icon name="retry" size={14} /> New secret
              </button>
            </div>
          )}
        </>
      )}
      {error && <div className="sb-callout sb-callout-danger" role="alert">{error}</div>}
    </section>
  );
}
