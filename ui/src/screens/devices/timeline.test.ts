import { describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../../bindings/DeviceEvent';
import { actionWords, describeEvent, isFailure, newestFirst, prettyMetadata, splitVersionName } from './timeline';
import { makeEvent } from '../../test/fixtures';

function event(action: string, received_ms: number, version_name = '1.0.0'): DeviceEvent {
  return makeEvent({ action, version_name, received_ms });
}

describe('actionWords', () => {
  it('puts the plugin actions in words', () => {
    expect(actionWords('set', '1.4.2')).toBe('Installed and switched to bundle 1.4.2');
    expect(actionWords('download_fail')).toBe('Download failed');
    expect(actionWords('update_fail')).toBe('Update failed — rolled back');
    expect(actionWords('reset')).toBe('Reset to the store build');
    expect(actionWords('download_complete')).toBe('Download complete');
    expect(actionWords('decrypt_fail')).toMatch(/^Decryption failed/);
    expect(actionWords('checksum_fail')).toMatch(/^Checksum mismatch/);
    expect(actionWords('unzip_fail')).toBe('Unzipping failed');
    expect(actionWords('get_channel')).toBe('Asked which channel it is on');
    expect(actionWords('getChannel')).toBe('Asked which channel it is on');
    expect(actionWords('set_channel')).toMatch(/setChannel/);
    expect(actionWords('app_moved_to_foreground')).toMatch(/foreground/);
    expect(actionWords('app_moved_to_background')).toBe('App moved to the background');
    expect(actionWords('download_40')).toBe('Downloading — 40 %');
  });

  it('shows unknown actions exactly as the device sent them', () => {
    expect(actionWords('some_future_action')).toBe('some_future_action');
    expect(actionWords('Set')).toBe('Set');
    expect(actionWords('toString')).toBe('toString');
  });
});

describe('describeEvent', () => {
  it('marks failures as the server counts them', () => {
    for (const action of ['download_fail', 'update_fail', 'set_fail', 'checksum_fail', 'unzip_fail', 'decrypt_fail', 'windows_path_fail']) {
      expect(isFailure(action)).toBe(true);
      expect(describeEvent(event(action, 1)).tone).toBe('failure');
    }
    expect(describeEvent(event('set', 1)).tone).toBe('success');
    expect(describeEvent(event('reset', 1)).tone).toBe('warning');
    expect(describeEvent(event('app_moved_to_foreground', 1)).tone).toBe('info');
    expect(describeEvent(event('some_future_action', 1)).tone).toBe('info');
  });

  it('separates the file download_fail names from the version', () => {
    expect(splitVersionName('1.0.1:assets/big.js')).toEqual({ version: '1.0.1', file: 'assets/big.js' });
    expect(splitVersionName('1.0.1')).toEqual({ version: '1.0.1', file: null });
    const described = describeEvent(event('download_fail', 1, '1.0.1:assets/big.js'));
    expect(described).toEqual({ words: 'Download failed', tone: 'failure', version: '1.0.1', file: 'assets/big.js' });
    expect(describeEvent(event('set', 1, '1.0.1')).words).toBe('Installed and switched to bundle 1.0.1');
  });
});

describe('newestFirst', () => {
  it('orders by server receipt, keeping ties in the order given', () => {
    const a = event('get', 100);
    const b = event('set', 300);
    const c = event('download_complete', 300);
    expect(newestFirst([a, b, c]).map((e) => e.action)).toEqual(['set', 'download_complete', 'get']);
  });
});

describe('prettyMetadata', () => {
  it('pretty-prints JSON, keeps other text, drops empties', () => {
    expect(prettyMetadata('{"error":"timeout"}')).toBe('{\n  "error": "timeout"\n}');
    expect(prettyMetadata('not json')).toBe('not json');
    expect(prettyMetadata('{}')).toBeNull();
    expect(prettyMetadata(null)).toBeNull();
  });
});
