/** Manifests as one YAML stream (`---` between documents), as `kubectl apply -f` reads them. */
import { stringify } from 'yaml';

export function yamlStream(objects: unknown[], header?: string): string {
  const comment = header ? header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n') + '\n' : '';
  // lineWidth 0: never fold long strings (an image digest, a storage URI) across lines
  return comment + objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
