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
 * on Cancel so a stray Enter never confirms.
 */
export function ConfirmDialog({ title, children, confirmLabel, danger, busy, onConfirm, onCancel }: ConfirmProps) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancelRef.current?.focus();
    function onKey(event: KeyboardEvent) {
      if (event.key === 'Escape') onCancel();
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onCancel]);

  return (
    <div className="overlay">
      <div className="dialog card" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h2 id="confirm-title">{title}</h2>
        <div className="dialog-body" data-testid="confirm-body">
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
