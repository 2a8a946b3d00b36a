// Small accessible building blocks: a modal dialog and a menu button.
import { useEffect, useRef, useState, type ReactNode } from "react";

export function Modal({ title, open, onClose, children, actions, tone }: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ReactNode;
  actions: ReactNode;
  tone?: "danger" | "warning";
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className={`sb-dialog${tone ? ` sb-dialog-${tone}` : ""}`}
      aria-label={title}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <div className="sb-form">
          <h2>{title}</h2>
          {children}
          <div className="sb-dialog-actions">{actions}</div>
        </div>
      )}
    </dialog>
  );
}

export interface MenuItem {
  label: string;
  shortcut?: string;
  onSelect: () => void;
  disabled?: boolean;
  separator?: boolean;
  checked?: boolean;
}

export function MenuButton({ label, items, icon }: { label: string; items: MenuItem[]; icon?: ReactNode }) {
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const first = list.current?.querySelector<HTMLButtonElement>("[role^=menuitem]:not([disabled])");
    first?.focus();
    const away = (e: MouseEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, [open]);
  const onKey = (e: React.KeyboardEvent) => {
    const buttons = Array.from(list.current?.querySelectorAll<HTMLButtonElement>("[role^=menuitem]:not([disabled])") ?? []);
    const index = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === "ArrowDown") buttons[(index + 1) % buttons.length]?.focus();
    else if (e.key === "ArrowUp") buttons[(index - 1 + buttons.length) % buttons.length]?.focus();
    else if (e.key === "Escape") {
      setOpen(false);
      root.current?.querySelector<HTMLButtonElement>("button")?.focus();
    } else return;
    e.preventDefault();
    e.stopPropagation();
  };
  return (
    <div className="sb-menu" ref={root} onKeyDown={onKey}>
      <button type="button" className="sb-btn sb-btn-ghost sb-btn-sm" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        {icon}
        {label}
      </button>
      {open && (
        <div className="sb-menu-list" role="menu" aria-label={label} ref={list}>
          {items.map((item, i) =>
            item.separator ? (
              <div key={i} className="sb-menu-sep" role="separator" />
            ) : (
              <button
                key={item.label}
                type="button"
                role={item.checked === undefined ? "menuitem" : "menuitemcheckbox"}
                aria-checked={item.checked}
                disabled={item.disabled}
                onClick={() => {
                  setOpen(false);
                  item.onSelect();
                }}
              >
                <span className="sb-menu-check" aria-hidden="true">
                  {item.checked ? "✓" : ""}
                </span>
                <span className="sb-menu-label">{item.label}</span>
                {item.shortcut && <kbd>{item.shortcut}</kbd>}
              </button>
            ),
          )}
        </div>
      )}
    </div>
  );
}

export function timeAgo(iso: string): string {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  const units: [number, string][] = [
    [60, "minute"],
    [3600, "hour"],
    [86400, "day"],
    [2592000, "month"],
  ];
  let [size, name] = units[0];
  for (const unit of units) if (seconds >= unit[0]) [size, name] = unit;
  const n = Math.floor(seconds / size);
  return `${n} ${name}${n === 1 ? "" : "s"} ago`;
}

export function ToastRegion({ toasts }: { toasts: { id: number; text: string; kind: string }[] }) {
  return (
    <div className="sb-toast-region" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`sb-toast sb-toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
