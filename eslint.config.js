// Lint is part of `npm test`: typescript-eslint's recommended rules on sources, tests, benches and the web dashboard,
// and the layering of src/ (eslint.layers.js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layers } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'web/dist/', 'coverage/', '**/.scratch/', 'src/grpc/generated/'] }, // generated/: proto-loader-gen-types output (npm run gen)
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // front ends → core → backends, one way (eslint.layers.js)
  ...layers,
  {
    // the web dashboard runs in browsers
    files: ['web/**/*.{ts,tsx}'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', navigator: 'readonly', location: 'readonly', localStorage: 'readonly', sessionStorage: 'readonly', ResizeObserver: 'readonly', HTMLElement: 'readonly', HTMLCanvasElement: 'readonly', HTMLInputElement: 'readonly', CanvasRenderingContext2D: 'readonly', PointerEvent: 'readonly', Event: 'readonly', Response: 'readonly', RequestInit: 'readonly', Storage: 'readonly', URLSearchParams: 'readonly', requestAnimationFrame: 'readonly' },
    },
  },
);
