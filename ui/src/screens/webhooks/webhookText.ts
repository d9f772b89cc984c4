// Webhook deliveries in words, for the delivery log.
import type { WebhookDelivery } from '../../bindings/WebhookDelivery';
import type { WebhookEventKind } from '../../bindings/WebhookEventKind';

/** Every event kind, in the order the server lists them, with what it means. */
export const EVENT_KINDS: ReadonlyArray<{ kind: WebhookEventKind; label: string }> = [
  { kind: 'publish', label: 'publish — a bundle became a channel’s target' },
  { kind: 'rollout.step', label: 'rollout.step — a rollout’s share changed' },
  { kind: 'rollout.paused', label: 'rollout.paused — a rollout plan stopped advancing' },
  { kind: 'rollback', label: 'rollback — a channel went back to an earlier bundle' },
  { kind: 'guard', label: 'guard — the server paused or rolled back by itself, on health' },
];

/** What the event was about: `publish 1.2.0 on production`, `rollout.step 1.3.0 at 10 % on beta`. */
export function describeEvent(delivery: WebhookDelivery): string {
  const e = delivery.event;
  const parts: string[] = [e.kind];
  if (e.version) parts.push(e.version);
  if (e.percent !== null && e.kind.startsWith('rollout')) parts.push(`at ${e.percent} %`);
  if (e.channel) parts.push(`on ${e.channel}`);
  return parts.join(' ');
}

/** The outcome of the last attempt, or why there is none yet. */
export function lastAnswer(delivery: WebhookDelivery): string {
  const last = delivery.attempts[delivery.attempts.length - 1];
  if (!last) return delivery.status === 'cancelled' ? 'never sent' : 'not sent yet';
  if (last.error) return last.error;
  return last.status_code !== null ? `answered ${last.status_code}` : '';
}
