/** Shape of the auth service's `GET /internal/tenants/resolve?slug=` answer, checked before use. */
import { Type, type Static } from 'typebox';

export const ResolvedTenantSchema = Type.Object({
  id: Type.String({ minLength: 1 }),
  slug: Type.String(),
  name: Type.String(),
  status: Type.String(),
  settings: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
});
export type ResolvedTenant = Static<typeof ResolvedTenantSchema>;

/** A tenant as the gateway uses it. */
export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: string;
  /** origins the tenant's browser apps run on (`settings.allowedOrigins`), normalised */
  allowedOrigins: string[];
}
