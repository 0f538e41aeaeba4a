/**
 * The users service's tables, as its migrations (services/users/migrations) create them: the
 * one declaration every query is typed through (`Selectable`, `Insertable`, `Updateable`).
 * `columns` repeats each table one line per column for run time; the type system holds it to
 * the interfaces and `schema.test.ts` holds it to the migrated database (see
 * packages/platform/src/schema.ts for why this and not a generator).
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Database as PlatformDatabase, Db as PlatformDb, Tx as PlatformTx } from '@gatehouse/platform/db';
import { platformColumns, type PlatformTables, type SchemaSpec } from '@gatehouse/platform/schema';

/** A replica of the identity service's users plus the profile fields this service owns. */
export interface ProfilesTable {
  tenant_id: string;
  id: string;
  email: string;
  username: string | null;
  display_name: string | null;
  bio: string | null;
  location: string | null;
  website: string | null;
  /** storage key (avatars/<tenant>/<user>/<random>.<ext>) */
  avatar_key: string | null;
  /** the public object id of the avatar URL */
  avatar_object: string | null;
  /** time of the last identity event applied */
  identity_at: Date;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** Tombstones of users the identity service deleted. */
export interface DeletedUsersTable {
  tenant_id: string;
  id: string;
  deleted_at: Generated<Date>;
}

/** Meetings, classes: what members check in to. */
export interface EventsTable {
  tenant_id: string;
  id: string;
  title: string;
  description: string | null;
  location: string | null;
  starts_at: Date;
  ends_at: Date;
  late_after_minutes: number;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One row per member and event. */
export interface AttendanceTable {
  tenant_id: string;
  event_id: string;
  user_id: string;
  status: 'present' | 'late';
  checked_in_at: Date;
  checked_out_at: Date | null;
  checked_in_by: string;
  checked_out_by: string | null;
}

/** The members an event expects (0002): the report lists those not checked in as absent. */
export interface EventRosterTable {
  tenant_id: string;
  event_id: string;
  user_id: string;
  added_at: Generated<Date>;
}

/** Storage objects no longer referenced, deleted by a sweeper after the commit. */
export interface StorageDeletionsTable {
  key: string;
  created_at: Generated<Date>;
  attempts: Generated<number>;
  last_error: string | null;
}

/** Every table of the users schema, the platform's included. */
export interface DB extends PlatformTables {
  profiles: ProfilesTable;
  deleted_users: DeletedUsersTable;
  events: EventsTable;
  attendance: AttendanceTable;
  event_roster: EventRosterTable;
  storage_deletions: StorageDeletionsTable;
}

/** The tables at run time, one line per column (checked against the interfaces above). */
export const columns = {
  ...platformColumns,
  profiles: {
    tenant_id: 'uuid',
    id: 'uuid',
    email: 'text',
    username: 'text null',
    display_name: 'text null',
    bio: 'text null',
    location: 'text null',
    website: 'text null',
    avatar_key: 'text null',
    avatar_object: 'text null',
    identity_at: 'timestamptz',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  deleted_users: {
    tenant_id: 'uuid',
    id: 'uuid',
    deleted_at: 'timestamptz default',
  },
  events: {
    tenant_id: 'uuid',
    id: 'uuid',
    title: 'text',
    description: 'text null',
    location: 'text null',
    starts_at: 'timestamptz',
    ends_at: 'timestamptz',
    late_after_minutes: 'int4',
    created_by: 'uuid',
    created_at: 'timestamptz default',
    updated_at: 'timestamptz default',
  },
  attendance: {
    tenant_id: 'uuid',
    event_id: 'uuid',
    user_id: 'uuid',
    status: 'text',
    checked_in_at: 'timestamptz',
    checked_out_at: 'timestamptz null',
    checked_in_by: 'uuid',
    checked_out_by: 'uuid null',
  },
  event_roster: {
    tenant_id: 'uuid',
    event_id: 'uuid',
    user_id: 'uuid',
    added_at: 'timestamptz default',
  },
  storage_deletions: {
    key: 'text',
    created_at: 'timestamptz default',
    attempts: 'int4 default',
    last_error: 'text null',
  },
} satisfies SchemaSpec<DB>;

/** The users service's database handle, owner connection and transactions. */
export type Database = PlatformDatabase<DB>;
export type Db = PlatformDb<DB>;
export type Tx = PlatformTx<DB>;

export type ProfileRow = Selectable<ProfilesTable>;
export type EventRow = Selectable<EventsTable>;
export type NewEvent = Insertable<EventsTable>;
export type EventUpdate = Updateable<EventsTable>;
export type AttendanceRow = Selectable<AttendanceTable>;
export type NewAttendance = Insertable<AttendanceTable>;
