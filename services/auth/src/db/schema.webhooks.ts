/** The webhook tables of the auth schema (migration 0009); part of `DB` in schema.ts. */
import type { ColumnType, Generated } from 'kysely';

/** A tenant's webhook endpoint; the signing secret sealed with the master secret. */
export interface WebhookEndpointsTable {
  id: string;
  tenant_id: string;
  url: string;
  description: string | null;
  events: string[];
  secret_sealed: string;
  disabled_at: Date | null;
  disabled_reason: string | null;
  consecutive_failures: Generated<number>;
  failing_since: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** One event for one endpoint: its payload as signed and sent, and where it stands. */
export interface WebhookDeliveriesTable {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: ColumnType<WebhookDeliveryStatus, WebhookDeliveryStatus | undefined, WebhookDeliveryStatus>;
  attempt: Generated<number>;
  next_attempt_at: Date | null;
  response_status: number | null;
  response_excerpt: string | null;
  last_error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Every attempt of a delivery. */
export interface WebhookAttemptsTable {
  id: string;
  tenant_id: string;
  delivery_id: string;
  attempt: number;
  started_at: Date;
  duration_ms: number;
  outcome: 'succeeded' | 'failed';
  response_status: number | null;
  response_excerpt: string | null;
  error: string | null;
}

/** The delivery worker's schedule: deliveries with an attempt still to make. */
export interface WebhookQueueTable {
  delivery_id: string;
  tenant_id: string;
  due_at: Date;
}
