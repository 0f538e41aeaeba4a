/**
 * Applications (the tenant's OAuth clients) and API resources, for tenant admins
 * (`/api/v1/admin/applications`, `/api/v1/admin/resources`), and the user's connected apps
 * (`/api/v1/auth/consents`). Client secrets are 256-bit random values stored as sha256 and
 * shown once; deleting or disabling an application, or revoking a consent, ends its grants.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ApplicationRow, Database, ResourceRow, Tx } from '../../db/schema';
import type { Emit } from '@gatehouse/platform/db';
import { oidcEvent } from '../../events';
import { oidcErrors } from './oidc.errors';
import { hashClientSecret, redirectUriProblem, type OidcProviders } from './oidc.provider';
import {
  deleteConsent,
  destroyByGrant,
  findApplication,
  findResource,
  findResourceByAudience,
  grantIdsOf,
  listApplications,
  listConsents,
  listResources,
} from './oidc.queries';
import type { Application, ApplicationCreate, ApplicationPatch, ResourceCreate, ResourcePatch } from './oidc.schemas';

function newSecret(): string {
  return `ghs_${randomBytes(32).toString('base64url')}`;
}

function checkRedirects(uris: readonly string[] | undefined): void {
  for (const uri of uris ?? []) {
    const why = redirectUriProblem(uri);
    if (why) throw oidcErrors.invalidRedirectUri(uri, why);
  }
}

function isAbsoluteUri(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

function scopesOf(row: ResourceRow): Array<{ name: string; description?: string }> {
  return typeof row.scopes === 'string' ? (JSON.parse(row.scopes) as Array<{ name: string; description?: string }>) : row.scopes;
}

/** Ends every grant (and its tokens) of an application: rows whose payload names its client id. */
async function destroyClientGrants(trx: Tx, clientId: string): Promise<number> {
  const r = await trx.deleteFrom('oidc_payloads').where((eb) => eb(eb.ref('payload', '->>').key('clientId'), '=', clientId)).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export function createOidcAdmin(deps: { db: Database; providers: OidcProviders }) {
  const { db, providers } = deps;

  async function issuerOf(tenantId: string): Promise<string> {
    const provider = await providers.forTenant(tenantId);
    return provider.issuer;
  }

  function toApplication(row: ApplicationRow, issuer: string): Application {
    return {
      id: row.id,
      clientId: row.client_id,
      name: row.name,
      type: row.type,
      redirectUris: row.redirect_uris,
      postLogoutRedirectUris: row.post_logout_redirect_uris,
      scopes: row.scopes,
      resources: row.resources,
      firstParty: row.first_party,
      disabled: row.disabled,
      tokenEndpointAuthMethod: row.token_endpoint_auth_method,
      issuer,
      createdAt: row.created_at.toISOString(),
    };
  }

  async function checkResources(trx: Tx, audiences: readonly string[] | undefined): Promise<void> {
    for (const aud of audiences ?? []) if (!(await findResourceByAudience(trx, aud))) throw oidcErrors.unknownResource(aud);
  }

  const appEvent = (emit: Emit, action: 'created' | 'updated' | 'deleted', tenantId: string, row: ApplicationRow, actorId: string) =>
    emit(oidcEvent(`application.events.${action}`, tenantId, row.id, { applicationId: row.id, clientId: row.client_id, name: row.name, type: row.type, actorId }));

  return {
    async createApplication(tenantId: string, actorId: string, body: ApplicationCreate) {
      checkRedirects(body.redirectUris);
      checkRedirects(body.postLogoutRedirectUris);
      const isPublic = body.type === 'spa' || body.type === 'native';
      if (body.type !== 'm2m' && (body.redirectUris ?? []).length === 0) {
        throw oidcErrors.invalidRedirectUri('', 'is missing: web, spa and native applications need at least one redirect URI');
      }
      const secret = isPublic ? undefined : newSecret();
      const issuer = await issuerOf(tenantId);
      const row = await db.withTenant(tenantId, async (trx, emit) => {
        await checkResources(trx, body.resources);
        const created = await trx
          .insertInto('oidc_applications')
          .values({
            id: randomUUID(),
            tenant_id: tenantId,
            client_id: `app_${randomBytes(12).toString('base64url')}`,
            name: body.name,
            type: body.type,
            secret_hash: secret ? hashClientSecret(secret) : null,
            token_endpoint_auth_method: isPublic ? 'none' : (body.tokenEndpointAuthMethod ?? (body.jwks ? 'private_key_jwt' : 'client_secret_basic')),
            redirect_uris: body.redirectUris ?? [],
            post_logout_redirect_uris: body.postLogoutRedirectUris ?? [],
            scopes: body.scopes ?? [],
            resources: body.resources ?? [],
            jwks: body.jwks ? JSON.stringify(body.jwks) : null,
            first_party: body.firstParty ?? false,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await appEvent(emit, 'created', tenantId, created, actorId);
        return created;
      });
      return { ...toApplication(row, issuer), ...(secret ? { clientSecret: secret } : {}) };
    },

    async listApplications(tenantId: string) {
      const issuer = await issuerOf(tenantId);
      const rows = await db.withTenant(tenantId, (trx) => listApplications(trx));
      return { items: rows.map((r) => toApplication(r, issuer)) };
    },

    async getApplication(tenantId: string, id: string) {
      const issuer = await issuerOf(tenantId);
      const row = await db.withTenantRead(tenantId, (trx) => findApplication(trx, id));
      if (!row) throw oidcErrors.applicationNotFound();
      return toApplication(row, issuer);
    },

    async patchApplication(tenantId: string, actorId: string, id: string, body: ApplicationPatch) {
      checkRedirects(body.redirectUris);
      checkRedirects(body.postLogoutRedirectUris);
      const issuer = await issuerOf(tenantId);
      const row = await db.withTenant(tenantId, async (trx, emit) => {
        const found = await findApplication(trx, id);
        if (!found) throw oidcErrors.applicationNotFound();
        await checkResources(trx, body.resources);
        const isPublic = found.type === 'spa' || found.type === 'native';
        const updated = await trx
          .updateTable('oidc_applications')
          .set({
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.redirectUris !== undefined ? { redirect_uris: body.redirectUris } : {}),
            ...(body.postLogoutRedirectUris !== undefined ? { post_logout_redirect_uris: body.postLogoutRedirectUris } : {}),
            ...(body.scopes !== undefined ? { scopes: body.scopes } : {}),
            ...(body.resources !== undefined ? { resources: body.resources } : {}),
            ...(body.firstParty !== undefined ? { first_party: body.firstParty } : {}),
            ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
            ...(body.tokenEndpointAuthMethod !== undefined && !isPublic ? { token_endpoint_auth_method: body.tokenEndpointAuthMethod } : {}),
            ...(body.jwks !== undefined ? { jwks: body.jwks ? JSON.stringify(body.jwks) : null } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        // a disabled application's grants end at once
        if (body.disabled === true && !found.disabled) await destroyClientGrants(trx, found.client_id);
        await appEvent(emit, 'updated', tenantId, updated, actorId);
        return updated;
      });
      return toApplication(row, issuer);
    },

    async deleteApplication(tenantId: string, actorId: string, id: string): Promise<void> {
      await db.withTenant(tenantId, async (trx, emit) => {
        const found = await findApplication(trx, id);
        if (!found) throw oidcErrors.applicationNotFound();
        await destroyClientGrants(trx, found.client_id);
        await trx.deleteFrom('oidc_applications').where('id', '=', id).execute();
        await appEvent(emit, 'deleted', tenantId, found, actorId);
      });
    },

    async rotateSecret(tenantId: string, actorId: string, id: string): Promise<{ clientSecret: string }> {
      const secret = newSecret();
      await db.withTenant(tenantId, async (trx, emit) => {
        const found = await findApplication(trx, id);
        if (!found) throw oidcErrors.applicationNotFound();
        if (!found.secret_hash) throw oidcErrors.noSecret();
        const updated = await trx
          .updateTable('oidc_applications')
          .set({ secret_hash: hashClientSecret(secret), updated_at: new Date() })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await appEvent(emit, 'updated', tenantId, updated, actorId);
      });
      return { clientSecret: secret };
    },

    async createResource(tenantId: string, body: ResourceCreate) {
      if (!isAbsoluteUri(body.audience)) throw oidcErrors.invalidAudience();
      const row = await db.withTenant(tenantId, async (trx) => {
        if (await findResourceByAudience(trx, body.audience)) throw oidcErrors.audienceTaken();
        return trx
          .insertInto('oidc_resources')
          .values({ id: randomUUID(), tenant_id: tenantId, name: body.name, audience: body.audience, scopes: JSON.stringify(body.scopes) })
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      return { id: row.id, name: row.name, audience: row.audience, scopes: scopesOf(row) };
    },

    async listResources(tenantId: string) {
      const rows = await db.withTenant(tenantId, (trx) => listResources(trx));
      return { items: rows.map((row) => ({ id: row.id, name: row.name, audience: row.audience, scopes: scopesOf(row) })) };
    },

    async getResource(tenantId: string, id: string) {
      const row = await db.withTenantRead(tenantId, (trx) => findResource(trx, id));
      if (!row) throw oidcErrors.resourceNotFound();
      return { id: row.id, name: row.name, audience: row.audience, scopes: scopesOf(row) };
    },

    async patchResource(tenantId: string, id: string, body: ResourcePatch) {
      const row = await db.withTenant(tenantId, async (trx) => {
        if (!(await findResource(trx, id))) throw oidcErrors.resourceNotFound();
        return trx
          .updateTable('oidc_resources')
          .set({ ...(body.name !== undefined ? { name: body.name } : {}), ...(body.scopes !== undefined ? { scopes: JSON.stringify(body.scopes) } : {}), updated_at: new Date() })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      return { id: row.id, name: row.name, audience: row.audience, scopes: scopesOf(row) };
    },

    async deleteResource(tenantId: string, id: string): Promise<void> {
      await db.withTenant(tenantId, async (trx) => {
        const r = await trx.deleteFrom('oidc_resources').where('id', '=', id).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) throw oidcErrors.resourceNotFound();
      });
    },

    /** The user's connected apps. */
    async listConsents(tenantId: string, userId: string) {
      const rows = await db.withTenant(tenantId, (trx) => listConsents(trx, userId));
      return { items: rows.map((r) => ({ applicationId: r.application_id, name: r.name, scopes: r.scopes, grantedAt: r.granted_at.toISOString() })) };
    },

    /** Revokes the user's consent to one application and ends that application's grants of the user. */
    async revokeConsent(tenantId: string, userId: string, applicationId: string): Promise<void> {
      await db.withTenant(tenantId, async (trx, emit) => {
        const app = await findApplication(trx, applicationId);
        const had = await deleteConsent(trx, userId, applicationId);
        if (!app) throw oidcErrors.consentNotFound();
        const grants = await grantIdsOf(trx, userId, app.client_id);
        if (!had && grants.length === 0) throw oidcErrors.consentNotFound();
        for (const g of grants) await destroyByGrant(trx, g);
        await emit(oidcEvent('oauth.events.consent_revoked', tenantId, userId, { userId, applicationId, clientId: app.client_id }));
        for (const g of grants) await emit(oidcEvent('oauth.events.grant_revoked', tenantId, userId, { userId, applicationId, clientId: app.client_id, grantId: g, reason: 'consent_revoked' }));
      });
    },
  };
}
export type OidcAdmin = ReturnType<typeof createOidcAdmin>;
