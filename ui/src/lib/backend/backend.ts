// The one door from the UI to Rust. Components receive a Backend through context and never
// call Tauri's `invoke` themselves, so UI logic runs in tests without a window.
import type { CreatePlan } from '../../bindings/CreatePlan';
import type { PlanAction } from '../../bindings/PlanAction';
import type { PlanView } from '../../bindings/PlanView';
import type { App } from '../../bindings/App';
import type { AppChannels } from '../../bindings/AppChannels';
import type { AppKeyStatus } from '../../bindings/AppKeyStatus';
import type { AppSigning } from '../../bindings/AppSigning';
import type { AuditEntry } from '../../bindings/AuditEntry';
import type { Bundle } from '../../bindings/Bundle';
import type { BundleHealth } from '../../bindings/BundleHealth';
import type { Channel } from '../../bindings/Channel';
import type { ChannelAdoption } from '../../bindings/ChannelAdoption';
import type { CreatedToken } from '../../bindings/CreatedToken';
import type { CreateToken } from '../../bindings/CreateToken';
import type { DeviceDetail } from '../../bindings/DeviceDetail';
import type { DeviceFilter } from '../../bindings/DeviceFilter';
import type { DeviceOverride } from '../../bindings/DeviceOverride';
import type { DeviceRecord } from '../../bindings/DeviceRecord';
import type { HistoryEntry } from '../../bindings/HistoryEntry';
import type { KeyCoverage } from '../../bindings/KeyCoverage';
import type { KeyDetails } from '../../bindings/KeyDetails';
import type { Preview } from '../../bindings/Preview';
import type { ProposedChange } from '../../bindings/ProposedChange';
import type { RollbackTo } from '../../bindings/RollbackTo';
import type { RolloutAction } from '../../bindings/RolloutAction';
import type { SettingsPatch } from '../../bindings/SettingsPatch';
import type { SigningKeyRecord } from '../../bindings/SigningKeyRecord';
import type { Timeline } from '../../bindings/Timeline';
import type { TokenRecord } from '../../bindings/TokenRecord';
import type { BundlePreview } from '../../bindings/BundlePreview';
import type { ProfileSummary } from '../../bindings/ProfileSummary';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { NativeView } from '../../bindings/NativeView';
import type { PublishDefaults } from '../../bindings/PublishDefaults';
import type { PublishForm } from '../../bindings/PublishForm';
import type { PublishResult } from '../../bindings/PublishResult';
import type { Session } from '../../bindings/Session';
import type { UiError } from '../../bindings/UiError';
import type { CreatedWebhook } from '../../bindings/CreatedWebhook';
import type { Webhook } from '../../bindings/Webhook';
import type { WebhookDelivery } from '../../bindings/WebhookDelivery';
import type { WebhookEventKind } from '../../bindings/WebhookEventKind';

export interface Backend {
  /** The active profile and who its token is; rejects with `not_connected` when there is none. */
  currentSession(): Promise<Session>;
  /** Checks a token, stores it in the OS keychain and activates the profile. */
  connectServer(profile: string, url: string, token: string, app: string | null): Promise<Session>;
  /** Saved profiles. */
  listProfiles(): Promise<ProfileSummary[]>;
  /** Makes a saved profile the active one. */
  switchProfile(name: string): Promise<void>;
  /** Opens the native folder dialog; null when the user closes it. */
  pickFolder(): Promise<string | null>;
  /** Packs a build folder and describes what would ship. Reports progress under `operationId`. */
  previewBundle(operationId: string, folder: string): Promise<BundlePreview>;
  /** Version and MIN_NATIVE_VERSION the build folder's project declares. */
  publishDefaults(folder: string): Promise<PublishDefaults>;
  /** Whether the build's Capacitor project changed natively since what `channel`'s shells run. */
  checkNative(app: string, channel: string, folder: string, version: string, minNative: string): Promise<NativeView>;
  /** Every app on the server with its channels. */
  listAppChannels(): Promise<AppChannels[]>;
  /** Packs, uploads, verifies and assigns. Reports progress under `operationId`. */
  publishBundle(operationId: string, form: PublishForm): Promise<PublishResult>;
  /** Asks a running operation to stop; false when it already finished. */
  cancelOperation(operationId: string): Promise<boolean>;
  /** Subscribes to progress of every operation; returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): Promise<() => void>;
  /** Subscribes to files dragged over and dropped on the window; returns the unsubscribe function. */
  onFileDrag(listener: (event: FileDrag) => void): Promise<() => void>;

  // Apps
  /** Registers an app (reverse-DNS id) with its public `production` channel (admin). */
  createApp(id: string, name: string | null): Promise<App>;
  /** Every API token of the server, revoked ones included (admin). */
  listTokens(): Promise<TokenRecord[]>;
  /** A new token; its secret is in this answer only (admin). */
  createToken(token: CreateToken): Promise<CreatedToken>;
  /** Revokes a token: requests with it are refused from now on (admin). */
  revokeToken(id: number): Promise<TokenRecord>;

  // Channels
  /** Every channel of `app` with what it serves. */
  listChannels(app: string): Promise<Channel[]>;
  /** Every change of a channel's target or rollout, newest first. */
  channelHistory(app: string, channel: string): Promise<HistoryEntry[]>;
  /** Starts, widens, finishes or aborts a rollout. */
  /** `minNative`: the native line whose rollout changes (a MIN_NATIVE_VERSION or `any`). */
  changeRollout(app: string, channel: string, action: RolloutAction, minNative?: string | null): Promise<Channel>;
  /** Gives channel `to` the bundle channel `from` serves. */
  promoteChannel(app: string, from: string, to: string): Promise<Channel>;
  /** Rolls a channel back to its previous bundle or to the store build. */
  /** `minNative`: the line to roll back to its previous bundle (null: the line changed last). */
  rollbackChannel(app: string, channel: string, to: RollbackTo, minNative: string | null): Promise<Channel>;
  /** What the devices seen in the last `days` (null: 30) would get after `change`; changes nothing. */
  previewChange(app: string, change: ProposedChange, days: number | null): Promise<Preview>;
  /** Changes a channel's flags (null leaves a flag as it is). */
  updateChannel(app: string, channel: string, patch: SettingsPatch): Promise<Channel>;
  /** The channel's rollout plan (the latest, whatever its status), or null when it never had one. */
  channelPlan(app: string, channel: string): Promise<PlanView | null>;
  /** Starts a rollout plan: the server widens the rollout step by step while it is healthy. */
  createPlan(app: string, channel: string, plan: CreatePlan): Promise<PlanView>;
  /** Pauses, resumes or cancels the channel's plan. */
  changePlan(app: string, channel: string, action: PlanAction): Promise<PlanView>;

  // Bundles and stats
  /** Every bundle of `app`, newest first. */
  listBundles(app: string): Promise<Bundle[]>;
  /** Installs, failures by action, rollbacks and active devices per bundle. */
  bundleHealth(app: string): Promise<BundleHealth[]>;
  /** Adoption per channel. */
  channelAdoption(app: string): Promise<ChannelAdoption[]>;
  /** Events per time bucket (`hour` or `day`) and action over the last `days` days, of one bundle or all. */
  statsTimeline(app: string, bucket: 'hour' | 'day', days: number, version?: string): Promise<Timeline>;

  // Devices
  /** Devices matching the filter (device id, custom id or id prefix in `q`). */
  searchDevices(app: string, filter: DeviceFilter): Promise<DeviceRecord[]>;
  /** A device, its channel override and its event timeline (newest first). */
  deviceDetail(app: string, device: string): Promise<DeviceDetail>;
  /** Pins a device to a channel (QA). */
  setDeviceOverride(app: string, device: string, channel: string): Promise<DeviceOverride>;
  /** Removes a device's channel override; false when it had none. */
  clearDeviceOverride(app: string, device: string): Promise<boolean>;

  // Audit
  /** Management changes, newest first, of one app (or all when null). */
  auditLog(app: string | null, limit: number): Promise<AuditEntry[]>;

  // Signing keys (private keys stay in the OS keychain; the server only sees public keys)
  /** Every app with the key that signs it: registered keys, the rule, this machine's key. */
  keysOverview(): Promise<AppKeyStatus[]>;
  /** Makes the app's RSA-2048 key in the keychain; registers its public key when asked (admin). */
  createSigningKey(app: string, register: boolean, replace: boolean): Promise<KeyDetails>;
  /** The public key and config snippet of the key this machine signs the app with. */
  showSigningKey(app: string): Promise<KeyDetails>;
  /** Writes the private key to a new file (mode 0600) for a backup; answers its key id. */
  exportSigningKey(app: string, path: string): Promise<string>;
  /** Puts a private key file into the keychain; registers it when the server does not know it (admin). */
  importSigningKey(app: string, path: string, register: boolean, replace: boolean): Promise<KeyDetails>;
  /** Registers the public half of this machine's key (admin). */
  registerSigningKey(app: string): Promise<SigningKeyRecord>;
  /** Requires signed bundles for the app, or stops requiring them (admin). */
  setRequireSigned(app: string, required: boolean): Promise<AppSigning>;
  /** Which keys the devices active in the last `activeDays` days trust, per native version. */
  keyCoverage(app: string, activeDays: number): Promise<KeyCoverage>;

  // Webhooks (admin)
  /** The app's webhooks (never their secrets). */
  listWebhooks(app: string): Promise<Webhook[]>;
  /** Registers a URL for `events` (all when null); its signing secret is in this answer only. */
  createWebhook(app: string, url: string, events: WebhookEventKind[] | null): Promise<CreatedWebhook>;
  /** Removes a webhook: nothing more is sent to it, and its queued deliveries are cancelled. */
  removeWebhook(app: string, id: number): Promise<Webhook>;
  /** The delivery log, newest first, with every attempt (of one webhook when given). */
  webhookDeliveries(app: string, webhook: number | null, limit: number): Promise<WebhookDelivery[]>;
}

/** A drag over the window: `hover` while files are over it, then `drop` (with the first path) or `leave`. */
export type FileDrag = { kind: 'hover' } | { kind: 'drop'; path: string } | { kind: 'leave' };

/** Turns anything a backend call rejected with into the `{ code, message }` shape. */
export function toUiError(error: unknown): UiError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    return error as UiError;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message };
}
