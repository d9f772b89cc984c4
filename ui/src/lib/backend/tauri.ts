// The Backend of the real app: Tauri commands and events.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { Backend } from './backend';

export const tauriBackend: Backend = {
  currentSession: () => invoke('current_session'),
  connectServer: (profile, url, token, app) => invoke('connect_server', { profile, url, token, app }),
  listProfiles: () => invoke('list_profiles'),
  switchProfile: (name) => invoke('switch_profile', { name }),
  pickFolder: () => invoke('pick_folder'),
  previewBundle: (operationId, folder) => invoke('preview_bundle', { operationId, folder }),
  publishDefaults: (folder) => invoke('publish_defaults', { folder }),
  checkNative: (app, channel, folder, version, minNative) =>
    invoke('check_native', { app, channel, folder, version, minNative }),
  listAppChannels: () => invoke('list_app_channels'),
  publishBundle: (operationId, form) => invoke('publish_bundle', { operationId, form }),
  cancelOperation: (operationId) => invoke('cancel_operation', { operationId }),
  createApp: (id, name) => invoke('create_app', { id, name }),
  listTokens: () => invoke('list_tokens'),
  createToken: (token) => invoke('create_token', { token }),
  revokeToken: (id) => invoke('revoke_token', { id }),
  listChannels: (app) => invoke('list_channels', { app }),
  channelHistory: (app, channel) => invoke('channel_history', { app, channel }),
  changeRollout: (app, channel, action, minNative) =>
    invoke('change_rollout', { app, channel, action, minNative: minNative ?? null }),
  promoteChannel: (app, from, to) => invoke('promote_channel', { app, from, to }),
  rollbackChannel: (app, channel, to, minNative) => invoke('rollback_channel', { app, channel, to, minNative }),
  previewChange: (app, change, days) => invoke('preview_change', { app, change, days }),
  updateChannel: (app, channel, patch) => invoke('update_channel', { app, channel, patch }),
  channelPlan: (app, channel) => invoke('channel_plan', { app, channel }),
  createPlan: (app, channel, plan) => invoke('create_plan', { app, channel, plan }),
  changePlan: (app, channel, action) => invoke('change_plan', { app, channel, action }),
  listBundles: (app) => invoke('list_bundles', { app }),
  bundleHealth: (app) => invoke('bundle_health', { app }),
  channelAdoption: (app) => invoke('channel_adoption', { app }),
  statsTimeline: (app, bucket, days, version) => invoke('stats_timeline', { app, bucket, days, version: version ?? null }),
  searchDevices: (app, filter) => invoke('search_devices', { app, filter }),
  deviceDetail: (app, device) => invoke('device_detail', { app, device }),
  setDeviceOverride: (app, device, channel) => invoke('set_device_override', { app, device, channel }),
  clearDeviceOverride: (app, device) => invoke('clear_device_override', { app, device }),
  auditLog: (app, limit) => invoke('audit_log', { app, limit }),
  keysOverview: () => invoke('keys_overview'),
  createSigningKey: (app, register, replace) => invoke('create_signing_key', { app, register, replace }),
  showSigningKey: (app) => invoke('show_signing_key', { app }),
  exportSigningKey: (app, path) => invoke('export_signing_key', { app, path }),
  importSigningKey: (app, path, register, replace) => invoke('import_signing_key', { app, path, register, replace }),
  registerSigningKey: (app) => invoke('register_signing_key', { app }),
  setRequireSigned: (app, required) => invoke('set_require_signed', { app, required }),
  keyCoverage: (app, activeDays) => invoke('key_coverage', { app, activeDays }),
  listWebhooks: (app) => invoke('list_webhooks', { app }),
  createWebhook: (app, url, events) => invoke('create_webhook', { app, url, events }),
  removeWebhook: (app, id) => invoke('remove_webhook', { app, id }),
  webhookDeliveries: (app, webhook, limit) => invoke('webhook_deliveries', { app, webhook, limit }),
  onProgress: (listener) => listen<ProgressEvent>('operation-progress', (event) => listener(event.payload)),
  onFileDrag: (listener) =>
    getCurrentWebview().onDragDropEvent(({ payload }) => {
      if (payload.type === 'enter') listener({ kind: 'hover' });
      else if (payload.type === 'leave') listener({ kind: 'leave' });
      else if (payload.type === 'drop') {
        listener(payload.paths.length > 0 ? { kind: 'drop', path: payload.paths[0] } : { kind: 'leave' });
      }
    }),
};
