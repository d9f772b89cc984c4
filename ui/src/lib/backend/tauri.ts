// The Backend of the real app: Tauri commands and events.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { ProgressEvent } from '../../bindings/ProgressEvent';
import type { Backend } from './backend';

export const tauriBackend: Backend = {
  pickFolder: () => invoke('pick_folder'),
  previewBundle: (operationId, folder) => invoke('preview_bundle', { operationId, folder }),
  cancelOperation: (operationId) => invoke('cancel_operation', { operationId }),
  onProgress: (listener) => listen<ProgressEvent>('operation-progress', (event) => listener(event.payload)),
};
