/** Prometheus metrics of ingestion, registered once per registry (all-in-one mode shares one). */
import client from 'prom-client';

function counter(registry: client.Registry, name: string, help: string): client.Counter {
  return (registry.getSingleMetric(name) as client.Counter | undefined) ?? new client.Counter({ name, help, registers: [registry] });
}

/** Creates (or reuses) the audit metrics on `registry` and tracks the consumer lag. */
export function createIngestMetrics(registry: client.Registry) {
  const ingested = counter(registry, 'gatehouse_audit_ingested_total', 'Events appended to the audit log by the consumer');
  const duplicates = counter(registry, 'gatehouse_audit_duplicates_total', 'Redelivered or re-published events skipped (already in the log)');
  const deadLetters = counter(registry, 'gatehouse_audit_dead_letters_total', 'Messages parked in the dead-letter table');
  const lagName = 'gatehouse_audit_lag_seconds';
  const lag =
    (registry.getSingleMetric(lagName) as client.Gauge | undefined) ??
    new client.Gauge({ name: lagName, help: 'Event time to commit of the last ingested event, in seconds', registers: [registry] });
  let lastLagSec = 0;
  let lastIngestAt = 0;
  return {
    ingested(occurredAt: Date, now = Date.now()) {
      ingested.inc();
      lastLagSec = Math.max(0, (now - occurredAt.getTime()) / 1000);
      lastIngestAt = now;
      lag.set(lastLagSec);
    },
    duplicate() {
      duplicates.inc();
    },
    deadLetter() {
      deadLetters.inc();
    },
    /**
     * The consumer's current lag: that of the last ingested event while ingestion is active;
     * 0 when nothing was ingested for `idleMs` (an idle consumer is caught up, not behind).
     */
    currentLagSec(now = Date.now(), idleMs = 60_000): number {
      return now - lastIngestAt > idleMs ? 0 : lastLagSec;
    },
  };
}
export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
