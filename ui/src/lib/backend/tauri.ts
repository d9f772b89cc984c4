// The Backend of the real app: Tauri commands and events.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
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
  listAppChannels: () => invoke('list_app_channels'),
  publishBundle: (operationId, form) => invoke('publish_bundle', { operationId, form }),
  cancelOperation: (operationId) => invoke('cancel_operation', { operationId }),
  onProgress: (listener) => listen<ProgressEvent>('operation-progress', (event) => listener(event.payload)),
};
