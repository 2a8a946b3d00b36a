// The Test run tab's chat mode: a conversation with the DRAFT (saved first), one run per
// message, the answer streamed in, then the sources and the earlier messages memory used. Each
// message's run lights the canvas's nodes as it goes, like a test run from the form.
import { useEffect, useRef, useState } from "react";
import { RunStream } from "../../../static/js/run_stream.js";
import { api, ApiError } from "../api";
import type { CanvasState } from "../context";
import type { FlowNode } from "../graph";
import { Icon } from "../icons";
import type { Store } from "../store";
import { useCanvasRun } from "../canvasRun";

const FINISHED = /^run\.(succeeded|failed|cancelled|dead_letter|waiting)$/;

interface Source {
  source: string;
  heading: string;
  score: number | null;
  text: string;
}

interface Memory {
  turns?: number[];
  considered?: number;
  tokens?: number;
  budget?: number;
  summary?: { upto: number } | null;
}

interface ChatTurn {
  position: number;
  message: string;
  run_id: number | null;
  status: string;
  finished: boolean;
  answer: string;
  error: string;
  approval_id?: number | null;
  sources: Source[];
  memory: Memory | null;
  stream?: string;
}

function memoryLine(memory: Memory): string {
  const used = memory.turns ?? [];
  const what = used.length
    ? `remembered message${used.length === 1 ? "" : "s"} ${used.join(", ")}`
    : memory.considered
      ? "no earlier message needed"
      : "nothing to remember yet";
  const summary = memory.summary ? `, summary of messages 1–${memory.summary.upto}` : "";
  return `${what}${summary} (${memory.tokens ?? 0} of ${memory.budget ?? 0} tokens)`;
}

export function ChatPanel({ flowId, canRun, save, store, nodes }: {
  flowId: number;
  canRun: boolean;
  save: () => Promise<boolean>;
  /** The canvas's state, where each message's run paints its steps. */
  store: Store<CanvasState>;
  nodes: FlowNode[];
}) {
  const canvasRun = useCanvasRun(store, nodes);
  const [conversation, setConversation] = useState<number | null>(null);
  const [turns, setTurns] = useState<ChatTurn[]>([]);
  const [text, setText] = useState("");
  const [error, setError] = useState("");
  const [sending, setSending] = useState(false);
  const streams = useRef<RunStream[]>([]);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => () => streams.current.forEach((s) => s.stop()), []);
  useEffect(() => {
    bottom.current?.scrollIntoView?.({ block: "nearest" });
  }, [turns]);

  const update = (position: number, patch: Partial<ChatTurn>) =>
    setTurns((list) => list.map((t) => (t.position === position ? { ...t, ...patch } : t)));

  const follow = (conversationId: number, turn: ChatTurn) => {
    if (!turn.run_id) return;
    let node = "";
    let streamed = "";
    const model = canvasRun.begin(turn.run_id);
    const stream = new RunStream(turn.run_id, {
      after: 0,
      onDelta: (message: { node_id: string; data?: { text?: string } }) => {
        canvasRun.delta(model, message);
        if (message.node_id !== node) {
          node = message.node_id;
          streamed = "";
        }
        streamed += message.data?.text ?? "";
        update(turn.position, { stream: streamed, status: "running" });
      },
      onEvent: (event: { kind: string }) => {
        canvasRun.event(model, event);
        if (!FINISHED.test(event.kind)) return;
        stream.stop();
        api<ChatTurn>("GET", `/conversations/${conversationId}/turns/${turn.position}`).then(
          (shown) => update(turn.position, { ...shown, stream: undefined }),
          () => update(turn.position, { status: event.kind.slice(4), finished: true }),
        );
      },
    });
    streams.current.push(stream);
    stream.start();
  };

  const send = async (event: React.FormEvent) => {
    event.preventDefault();
    const message = text.trim();
    if (!message || sending) return;
    setSending(true);
    setError("");
    try {
      if (!(await save())) {
        setError("The draft could not be saved, so it was not run. Resolve the save problem shown in the toolbar.");
        return;
      }
      let id = conversation;
      if (id === null) {
        id = (await api<{ id: number }>("POST", `/flows/${flowId}/conversations`, {})).id;
        setConversation(id);
      }
      const sent = await api<{ turn: number; run: number }>("POST", `/conversations/${id}/messages`, { text: message, draft: true });
      const turn: ChatTurn = { position: sent.turn, message, run_id: sent.run, status: "queued", finished: false, answer: "", error: "", sources: [], memory: null };
      setTurns((list) => [...list, turn]);
      setText("");
      follow(id, turn);
    } catch (e) {
      setError(e instanceof ApiError && e.code === "graph_invalid" ? "The draft has problems to fix before it can run: see the Problems tab." : e instanceof Error ? e.message : String(e));
    } finally {
      setSending(false);
    }
  };

  const restart = () => {
    streams.current.forEach((s) => s.stop());
    streams.current = [];
    setConversation(null);
    setTurns([]);
    setError("");
    canvasRun.clear();
  };

  return (
    <div className="sb-chat" data-slot="test-chat">
      <div className="sb-chat-log" aria-live="polite">
        {turns.length === 0 && (
          <p className="sb-trigger-empty" data-chat-empty>
            Chat with the draft: each message is a run with the conversation attached, so Memory nodes see the earlier messages.
          </p>
        )}
        {turns.map((t) => (
          <article key={t.position} className="sb-chat-turn" data-turn={t.position} data-status={t.status}>
            <p className="sb-chat-bubble is-user">{t.message}</p>
            <div className="sb-chat-bubble is-bot">
              {t.status === "succeeded" ? (
                <p data-answer>{t.answer || <span className="sb-muted">The flow finished without an answer (its Output node gave nothing back).</span>}</p>
              ) : t.stream ? (
                <p data-stream>
                  {t.stream}
                  <span className="sb-caret" aria-hidden="true" />
                </p>
              ) : !t.finished ? (
                <p className="sb-muted" role="status">{t.status === "queued" ? "Waiting for a free worker…" : "Thinking…"}</p>
              ) : t.status === "waiting" ? (
                <p role="status">Waiting for approval: decide on the <a href={`/runs/${t.run_id}/`} target="_blank" rel="noopener">run page</a>.</p>
              ) : (
                <p className="sb-field-problem" role="alert" data-failed>
                  <strong>The flow could not answer.</strong> {t.error || "The run failed."}
                </p>
              )}
              {t.sources.length > 0 && (
                <details className="sb-chat-sources" data-sources>
                  <summary>{t.sources.length} source{t.sources.length === 1 ? "" : "s"}</summary>
                  <ol>
                    {t.sources.map((s, i) => (
                      <li key={i} title={s.text}>
                        {s.source}
                        {s.heading && <span className="sb-muted"> · {s.heading}</span>}
                        {s.score != null && <span className="sb-muted sb-num"> {s.score.toFixed(2)}</span>}
                      </li>
                    ))}
                  </ol>
                </details>
              )}
              <p className="sb-chat-meta sb-small sb-muted">
                {t.run_id && (
                  <a href={`/runs/${t.run_id}/`} target="_blank" rel="noopener" data-run-link>
                    Run #{t.run_id}
                  </a>
                )}
                {t.memory && <span data-memory> · {memoryLine(t.memory)}</span>}
              </p>
            </div>
          </article>
        ))}
        <div ref={bottom} />
      </div>
      {error && (
        <div className="sb-callout sb-callout-danger" role="alert" data-chat-error>
          {error}
        </div>
      )}
      <form className="sb-chat-form" onSubmit={send} aria-label="Chat with the draft">
        <textarea
          className="sb-input"
          rows={2}
          value={text}
          maxLength={20000}
          placeholder={canRun ? "Message the draft…" : "Your role can look at this flow but not run it."}
          disabled={!canRun}
          aria-label="Message"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <div className="sb-test-actions">
          <button type="submit" className="sb-btn sb-btn-primary sb-btn-sm" disabled={!canRun || sending || !text.trim()} data-action="chat-send">
            <Icon name="play" size={14} /> {sending ? "Sending…" : "Send"}
          </button>
          {turns.length > 0 && (
            <button type="button" className="sb-btn sb-btn-ghost sb-btn-sm" onClick={restart}>
              New conversation
            </button>
          )}
        </div>
        <p className="sb-field-hint">Runs the current draft (it is saved first). Model calls are made and paid for.</p>
      </form>
    </div>
  );
}
