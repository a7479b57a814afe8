// The layering of src/ (docs/architecture.md, "Layers"), enforced by eslint's no-restricted-imports.
// One table: for each folder, the folders of src/ it may import. Everything else of berth is
// refused, type-only imports included (a type import still couples the two folders).
// test/lint/layers.test.ts checks that a wrong import fails.

/** Every top-level folder of src/ (a new one must be added here, or its imports go unchecked). */
export const FOLDERS = [
  'cli', 'http', 'grpc', 'serving', 'config', 'core', 'runtime', 'monitor', 'registry', 'optimize',
  'convert', 'datasets', 'examples', 'package', 'oci', 'onnx', 'text', 'tensor-types', 'util',
];

/** Leaves: anything may import them. */
const LEAVES = ['oci', 'onnx', 'text', 'tensor-types', 'util'];

/**
 * The core's files a backend may import: the interface it implements and the plain types and
 * errors it speaks. They themselves import only leaves (checked below).
 */
export const CORE_SHARED = ['tensor', 'types', 'backend', 'errors'];

/** Files of a folder every folder may import, like a leaf: the configuration's defaults. */
export const SHARED_FILES = ['config/defaults'];

/** folder → the folders it may import besides itself and the leaves */
export const ALLOWED = {
  // front ends: the composition roots (server.ts, index.ts) and cli/ may import anything
  cli: ['*'],
  http: ['core', 'serving', 'monitor', 'registry', 'config'],
  grpc: ['core', 'serving', 'monitor', 'config'],
  // registry-backed serving and the access rules both front ends share
  serving: ['core', 'registry', 'config'],
  // the schema and its loader (the core's shared files only); config/defaults.ts is a leaf (SHARED_FILES)
  config: [],
  // the serving core: protocol-neutral, backend-neutral
  core: [],
  // backends: only the core's shared files (CORE_SHARED), and conversion on load
  runtime: ['convert'],
  monitor: ['core', 'datasets'],
  registry: ['core'],
  optimize: ['runtime', 'convert', 'datasets'],
  convert: [],
  datasets: [],
  examples: ['datasets'],
  // images and deployment manifests: reads models from the registry; nothing serving imports it
  package: ['registry', 'core', 'config'],
  // the OCI distribution protocol (client, auth, references, types): registry/ and package/ speak it
  oci: [],
  onnx: [],
  text: [],
  'tensor-types': ['onnx'],
  util: [],
};

/** Leaves that import nothing of berth at all, not even other leaves. */
const SEALED = ['onnx', 'text', 'util'];

/** Packages only a front end may use. */
const FRONT_END_PACKAGES = ['fastify', '@fastify/*', '@grpc/grpc-js', '@grpc/proto-loader', 'commander'];

const rel = '^(?:\\./|(?:\\.\\./)+)';
/** An import of a file in one of `folders`, except the SHARED_FILES. */
function folderImport(folders) {
  const alternatives = folders.map((f) => {
    const exempt = SHARED_FILES.filter((x) => x.startsWith(`${f}/`)).map((x) => x.slice(f.length + 1));
    return exempt.length === 0 ? `${f}/` : `${f}/(?!(?:${exempt.join('|')})\\.js$)`;
  });
  return { regex: `${rel}(?:${alternatives.join('|')})`, message: 'this import crosses the layering of src/ (eslint.layers.js, docs/architecture.md)' };
}
const rootImport = { regex: `${rel}(?:server|index)\\.js$`, message: 'only the composition roots and cli/ import server.ts and index.ts' };

function rule(from) {
  const allowed = ALLOWED[from];
  if (allowed.includes('*')) return undefined;
  const may = new Set([from, ...(SEALED.includes(from) ? [] : LEAVES), ...allowed]);
  // a backend (and the configuration's loader) may import the core's shared files only
  const coreShared = from === 'runtime' || from === 'config';
  const denied = FOLDERS.filter((f) => !may.has(f) && !(coreShared && f === 'core'));
  const patterns = [folderImport(denied), rootImport];
  if (coreShared) {
    patterns.push({ regex: `${rel}core/(?!(?:${CORE_SHARED.join('|')})\\.js$)`, message: `imports only the core's shared files (${CORE_SHARED.join(', ')})` });
  }
  const frontEnd = ['http', 'grpc'].includes(from);
  return {
    files: [`src/${from}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [...patterns, ...(frontEnd ? [] : [{ group: FRONT_END_PACKAGES, message: 'only the front ends use the HTTP/gRPC/CLI frameworks' }])],
      }],
    },
  };
}

/** The shared files of other folders import nothing of berth. */
const sharedFiles = {
  files: SHARED_FILES.map((f) => `src/${f}.ts`),
  rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.', message: 'a shared file (SHARED_FILES in eslint.layers.js) imports nothing of berth' }] }] },
};

/** The core's shared files import only each other and the leaves. */
const coreShared = {
  files: CORE_SHARED.map((f) => `src/core/${f}.ts`),
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        folderImport(FOLDERS.filter((f) => !LEAVES.includes(f))),
        { regex: `^\\./(?!(?:${CORE_SHARED.join('|')})\\.js$)`, message: `the core's shared files (${CORE_SHARED.join(', ')}) import only each other and the leaves` },
        rootImport,
      ],
    }],
  },
};

export const layers = [...FOLDERS.map(rule).filter((r) => r !== undefined), coreShared, sharedFiles];
