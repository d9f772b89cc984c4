// Building blocks for scripted backends in UI tests: every call fails loudly unless the test
// scripts it, so a screen that calls something unexpected cannot pass by accident.
import type { Backend } from '../lib/backend/backend';

function unexpected(name: string) {
  return () => Promise.reject(new Error(`unexpected backend call: ${name}`));
}

export const unusedBackend: Backend = {
  currentSession: unexpected('currentSession'),
  connectServer: unexpected('connectServer'),
  listProfiles: unexpected('listProfiles'),
  switchProfile: unexpected('switchProfile'),
  pickFolder: unexpected('pickFolder'),
  previewBundle: unexpected('previewBundle'),
  publishDefaults: unexpected('publishDefaults'),
  checkNative: unexpected('checkNative'),
  listAppChannels: unexpected('listAppChannels'),
  publishBundle: unexpected('publishBundle'),
  cancelOperation: unexpected('cancelOperation'),
  onProgress: async () => () => {},
  onFileDrag: async () => () => {},
  createApp: unexpected('createApp'),
  listTokens: unexpected('listTokens'),
  createToken: unexpected('createToken'),
  revokeToken: unexpected('revokeToken'),
  listChannels: unexpected('listChannels'),
  channelHistory: unexpected('channelHistory'),
  changeRollout: unexpected('changeRollout'),
  promoteChannel: unexpected('promoteChannel'),
  previewChange: unexpected('previewChange'),
  rollbackChannel: unexpected('rollbackChannel'),
  updateChannel: unexpected('updateChannel'),
  // Channels without a plan unless a test scripts one (every channel card asks).
  channelPlan: async () => null,
  createPlan: unexpected('createPlan'),
  changePlan: unexpected('changePlan'),
  listBundles: unexpected('listBundles'),
  bundleHealth: unexpected('bundleHealth'),
  channelAdoption: unexpected('channelAdoption'),
  statsTimeline: unexpected('statsTimeline'),
  searchDevices: unexpected('searchDevices'),
  deviceDetail: unexpected('deviceDetail'),
  setDeviceOverride: unexpected('setDeviceOverride'),
  clearDeviceOverride: unexpected('clearDeviceOverride'),
  auditLog: unexpected('auditLog'),
  keysOverview: unexpected('keysOverview'),
  createSigningKey: unexpected('createSigningKey'),
  showSigningKey: unexpected('showSigningKey'),
  exportSigningKey: unexpected('exportSigningKey'),
  importSigningKey: unexpected('importSigningKey'),
  registerSigningKey: unexpected('registerSigningKey'),
  setRequireSigned: unexpected('setRequireSigned'),
  keyCoverage: unexpected('keyCoverage'),
  listWebhooks: unexpected('listWebhooks'),
  createWebhook: unexpected('createWebhook'),
  removeWebhook: unexpected('removeWebhook'),
  webhookDeliveries: unexpected('webhookDeliveries'),
};
