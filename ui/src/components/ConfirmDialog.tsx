import { useEffect, useRef, type ReactNode } from 'react';

export interface ConfirmProps {
  /** The question, e.g. "Roll production back to 1.4.1?". */
  title: string;
  /** What will change for which devices, in words. */
  children: ReactNode;
  /** The confirming button's label, a verb: "Roll back". */
  confirmLabel: string;
  /** Red confirm button for changes that take something away from devices. */
  danger?: boolean;
  /** True while the change is being sent: buttons disabled. */
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/**
 * A modal question before a change reaches devices. Escape or Cancel backs out; focus starts
 * on Cancel so a stray Enter never confirms, and Tab stays inside the dialog.
 */
export function ConfirmDialog({ title, children, confirmLabel, danger, busy, onConfirm, onCancel }: ConfirmProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  const dialogRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    cancelRef.current?.focus();
    function onKey(event: KeyboardEvent) {
      if (event.key === 'Escape') onCancel();
      if (event.key === 'Tab') keepFocusInside(event);
    }
    function keepFocusInside(event: KeyboardEvent) {
      const buttons = [...(dialogRef.current?.querySelectorAll<HTMLElement>('button:not([disabled])') ?? [])];
      if (buttons.length === 0) return;
      const index = buttons.indexOf(document.activeElement as HTMLElement);
      const next = event.shiftKey ? (index <= 0 ? buttons.length - 1 : index - 1) : (index + 1) % buttons.length;
      event.preventDefault();
      buttons[next].focus();
    }
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      // Back to where the user was, so the keyboard flow continues.
      before?.focus?.();
    };
  }, [onCancel]);

  return (
    <div className="overlay">
      <div
        className="dialog card"
        role="dialog"
        aria-modal="true"
        aria-labelledby="confirm-title"
        aria-describedby="confirm-body"
        ref={dialogRef}
      >
        <h2 id="confirm-title">{title}</h2>
        <div className="dialog-body" id="confirm-body" data-testid="confirm-body">
          {children}
        </div>
        <div className="actions">
          <button type="button" className="button secondary" ref={cancelRef} onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          <button type="button" className={danger ? 'button danger' : 'button'} onClick={onConfirm} disabled={busy}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
