/**
 * Links a replica to the registry: every version the registry watcher reports (announcement,
 * reconnect catch-up, poll) becomes a reload request. Catch-ups do not retry a version that
 * already failed to load; announcements (a re-publish) do.
 */
import type { ModelReloader } from './reloader.js';
import type { ModelStore } from '../model-store/store.js';

/** Starts following `registry`; returns a function that stops. */
export function followRegistry(registry: ModelStore, reloader: ModelReloader): () => Promise<void> {
  return registry.watch((rec, reason) => {
    void reloader.reload({ location: rec.location, version: rec.version }, reason, { retryFailed: reason !== 'catch-up' });
  });
}
