// A confirmation that says what will happen before it happens: a modal <dialog> with the consequences,
// a required reason (kept in the audit log), and the action's own button. Closing it does nothing.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.ts';

export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  children: ComponentChildren;
  /** Ask for a reason (required); it is passed to onConfirm. */
  reasonLabel?: string;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (props.reasonLabel && !reason.trim()) {
      setError('Say why: the reason is kept in the audit log.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm(reason.trim());
      ref.current?.close();
      props.onClose();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="dialog-title" onClose={props.onClose} onCancel={props.onClose}>
      <form method="dialog" onSubmit={(e) => void submit(e)}>
        <h2 id="dialog-title">{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        {props.reasonLabel ? (
          <label class="field">
            <span>{props.reasonLabel}</span>
            <input name="reason" value={reason} maxLength={500} aria-required="true" onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
        ) : null}
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <div class="dialog-actions">
          <button type="button" onClick={() => (ref.current?.close(), props.onClose())} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class={props.danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Sending…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
