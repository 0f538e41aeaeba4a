import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { migratedColumns } from '@gatehouse/platform/testing';
import { AUTH_SCHEMA, columns } from './schema';

const MIGRATIONS = path.resolve(import.meta.dirname, '../../migrations');

test('the migrations create exactly the declared tables and columns (name, type, nullability, default)', async () => {
  // A column added to a migration and not to schema.ts (or the reverse) shows up in this diff.
  assert.deepEqual(await migratedColumns(AUTH_SCHEMA, MIGRATIONS), columns);
});
