/**
 * The part of `oidc-provider` (which ships no types) Gatehouse uses: the OpenID provider of
 * modules/oidc and the social-login tests' stand-in identity provider (oauth.fixtures.ts).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId: string };
    grantId?: string;
    lastSubmission?: Record<string, unknown>;
  }

  export interface AdapterPayload extends Record<string, unknown> {
    grantId?: string;
    accountId?: string;
    userCode?: string;
    uid?: string;
    consumed?: number;
  }

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export class Grant {
    constructor(init: { accountId: string; clientId: string });
    accountId: string;
    clientId: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
    destroy(): Promise<void>;
    static find(id: string): Promise<Grant | undefined>;
  }

  /** The request context oidc-provider hands to configuration functions (a Koa context). */
  export interface KoaContextWithOIDC {
    req: IncomingMessage;
    headers: Record<string, string | string[] | undefined>;
    oidc: {
      params?: Record<string, unknown>;
      body?: Record<string, unknown>;
      client?: { clientId: string };
      session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
      result?: { consent?: { grantId?: string } };
      provider: Provider;
    };
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error;
    InvalidRequest: new (description?: string) => Error;
    InvalidClient: new (description?: string) => Error;
    AccessDenied: new (description?: string) => Error;
  };

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    proxy: boolean;
    issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- listeners of oidc-provider's many events
    on(event: string, listener: (...args: any[]) => void): this;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Koa middleware
    use(middleware: (ctx: any, next: () => Promise<void>) => Promise<void>): this;
    Grant: typeof Grant;
    /** The provider's access tokens (opaque format): the Facebook stand-in's Graph API looks them up. */
    AccessToken: { find(value: string): Promise<{ accountId: string; aud?: string; scope?: string } | undefined> };
    static readonly ctx: KoaContextWithOIDC | undefined;
  }
}
