// A minimal Capacitor web layer: tell the updater plugin this bundle booted, or it rolls back.
import { CapacitorUpdater } from '@capgo/capacitor-updater';

CapacitorUpdater.notifyAppReady();
document.querySelector('h1').textContent += ` (${new Date().toLocaleDateString()})`;
