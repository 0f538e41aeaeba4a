/**
 * @deprecated The tenancy suites' old entry point; use `./system` (one test system for every
 * suite): `startHarness(o)` is `startTestSystem({ baseDomain: BASE_DOMAIN, ...o })`.
 * Kept so suites written against it still run; new suites import `./system`.
 */
import { BASE_DOMAIN, startTestSystem, type TestSystem, type TestSystemOptions } from './system';

export { BASE_DOMAIN, eventually, PASSWORD, uniqueEmail, uniqueSlug, type Account, type Reply, type TenantInfo, type SystemRequestOptions as RequestOptions } from './system';
export type Harness = TestSystem;
export type HarnessOptions = Pick<TestSystemOptions, 'env' | 'prefix'>;
export const startHarness = (o: HarnessOptions = {}): Promise<Harness> => startTestSystem({ baseDomain: BASE_DOMAIN, ...o });
