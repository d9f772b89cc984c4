import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfirmDialog } from './ConfirmDialog';

afterEach(cleanup);

function renderDialog(events: string[]) {
  render(
    <>
      <button>outside</button>
      <ConfirmDialog
        title="Roll production back to 1.0.1?"
        confirmLabel="Roll back"
        danger
        onConfirm={() => events.push('confirm')}
        onCancel={() => events.push('cancel')}
      >
        <p>Every device on production goes from 1.0.2 to 1.0.1.</p>
      </ConfirmDialog>
    </>,
  );
}

describe('ConfirmDialog', () => {
  it('starts on Cancel, keeps Tab inside, and Escape backs out', () => {
    const events: string[] = [];
    renderDialog(events);
    const dialog = screen.getByRole('dialog', { name: 'Roll production back to 1.0.1?' });
    expect(dialog.getAttribute('aria-describedby')).toBe('confirm-body');
    expect(document.activeElement?.textContent).toBe('Cancel');
    fireEvent.keyDown(window, { key: 'Tab' });
    expect(document.activeElement?.textContent).toBe('Roll back');
    fireEvent.keyDown(window, { key: 'Tab' });
    expect(document.activeElement?.textContent).toBe('Cancel');
    fireEvent.keyDown(window, { key: 'Tab', shiftKey: true });
    expect(document.activeElement?.textContent).toBe('Roll back');
    fireEvent.keyDown(window, { key: 'Escape' });
    expect(events).toEqual(['cancel']);
  });
});
