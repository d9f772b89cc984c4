import { useState } from 'react';
import type { KeyDetails } from '../../bindings/KeyDetails';

/** The public key as the app's `publicKey` wants it, and the config snippet, each with Copy. */
export function PublicKeyPanel({ details }: { details: KeyDetails }) {
  return (
    <div className="public-key" data-testid="public-key-panel">
      <CopyBlock label="Public key (the app’s publicKey)" text={details.public_key} testId="public-key" />
      <CopyBlock
        label="capacitor.config.json (the same object works in capacitor.config.ts)"
        text={details.config_snippet}
        testId="config-snippet"
      />
      <p className="hint">
        Add it to the app’s Capacitor config, run <code>npx cap sync</code> and ship a store build: installed apps
        trust the key from that build on.
      </p>
    </div>
  );
}

function CopyBlock({ label, text, testId }: { label: string; text: string; testId: string }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  }
  return (
    <div className="copy-block">
      <div className="copy-head">
        <span className="hint">{label}</span>
        <button type="button" className="button secondary" onClick={() => void copy()}>
          Copy
        </button>
        {copied === 'yes' && <span className="hint">Copied.</span>}
        {copied === 'failed' && <span className="hint bad">The clipboard is not available: select the text and copy it.</span>}
      </div>
      <pre className="mono" data-testid={testId}>
        {text}
      </pre>
    </div>
  );
}
