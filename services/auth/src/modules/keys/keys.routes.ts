/** `GET /.well-known/jwks.json`: the public keys that verify access tokens. */
import type { Static } from 'typebox';
import type { HttpApp } from '@gatehouse/platform/http';
import type { KeyService } from './keys.service';
import { JwksSchema } from './keys.schemas';

/** Registers the JWKS route. */
export function registerKeyRoutes(app: HttpApp, { keys }: { keys: KeyService }) {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['auth'],
        summary: 'Public keys (JWKS) that verify access tokens',
        description: 'The current key and keys retired within the access-token lifetime. Verifiers re-fetch on an unknown kid.',
        response: { 200: JwksSchema },
      },
    },
    async (_req, reply) => {
      // Short cache: a new key is published at rotation and verifiers fetch again on an unknown kid anyway.
      reply.header('cache-control', 'public, max-age=300, stale-while-revalidate=60');
      return (await keys.jwks()) as Static<typeof JwksSchema>;
    },
  );
}
