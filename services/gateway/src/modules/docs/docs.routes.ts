/**
 * `GET /openapi.json` (the merged document) and `GET /docs` (Swagger UI from
 * @fastify/swagger-ui, whose assets ship in the package: nothing is loaded from a CDN, so the
 * page works offline). `GET /` is the web console (modules/console).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from 'typebox';
import type { HttpApp } from '@gatehouse/platform';
import type { DocsService } from './docs.service';

/** Registers the documentation routes; must run before other routes (swagger collects them on registration). */
export async function docsRoutes(app: HttpApp, opts: { docs: DocsService }) {
  // @fastify/swagger-ui requires @fastify/swagger; the gateway's own routes are all hidden,
  // and the UI is handed the merged document instead of this one.
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'Gatehouse gateway', version: '1.0.0' } } });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, displayRequestDuration: true, tryItOutEnabled: false },
    // The UI reads /docs/json; make sure the merged document is there before it is served.
    uiHooks: {
      onRequest: async (req) => {
        if (req.url.startsWith('/docs/json') || req.url.startsWith('/docs/yaml')) await opts.docs.get();
      },
    },
    transformSpecification: () => opts.docs.current() as unknown as Record<string, unknown>,
    transformSpecificationClone: false,
    theme: { title: 'Gatehouse API reference' },
  });

  app.get(
    '/openapi.json',
    {
      schema: {
        hide: true,
        tags: ['gateway'],
        summary: 'The OpenAPI 3.1 document of the public API, merged from every service',
        response: { 200: Type.Unknown() },
      },
    },
    async () => opts.docs.get(),
  );
}
