/** Queries of the internal gRPC API. */
import type { Tx } from '../../db/schema';

/** Whether the session exists and was not revoked (expiry is the token's own, as at the gateway). */
export async function sessionNotRevoked(trx: Tx, id: string): Promise<boolean> {
  const row = await trx.selectFrom('sessions').select('id').where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return row !== undefined;
}
