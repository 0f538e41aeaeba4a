/**
 * @deprecated The e2e suites' old entry point; use `../system` (one test system for every
 * suite). `System` is `TestSystem`, `TEST_PASSWORD` is `PASSWORD`.
 */
export { describeBackends, measureAuditLatency, startTestSystem, PASSWORD as TEST_PASSWORD, type BackendName, type AuditLatency, type TestSystem as System } from '../system';
