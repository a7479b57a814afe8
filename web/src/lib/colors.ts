/** The dashboard's chart colours, named by meaning so every page draws the same thing the same way. */
export const COLORS = {
  throughput: '#2563eb',
  errors: '#dc2626',
  p50: '#059669',
  p99: '#7c3aed',
  production: '#2563eb',
  canary: '#d97706',
  shadow: '#7c3aed',
  threshold: '#6b7280',
  drift: '#dc2626',
  accuracy: '#059669',
} as const;

/** Colours for versions that are neither production nor canary. */
export const VERSION_PALETTE = ['#0891b2', '#be185d', '#4d7c0f', '#9333ea', '#b45309'];
