/**
 * Prometheus gauges of a `serve --registry` replica's convergence (RegistrySync.report), so
 * that a fleet's convergence shows on one dashboard across replicas, and stays visible while
 * the catalog is down (GET /api/v1/server then needs an API key the catalog cannot verify).
 */
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { RegistrySync } from './registry-sync.js';

export function registerConvergenceMetrics(registry: Registry, sync: RegistrySync): void {
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    registry.removeSingleMetric(name);
    new Gauge({ name, help, labelNames, registers: [registry], collect() { collect(this as Gauge); } });
  };
  gauge('berth_registry_catalog_up', 'Whether the registry catalog answered the last poll (1) or not (0)', [], (g) => g.set(sync.report().catalog === 'reachable' ? 1 : 0));
  gauge('berth_registry_catalog_seq', "The catalog's change sequence as last seen (-1: never)", [], (g) => g.set(sync.report().catalog_seq ?? -1));
  gauge('berth_registry_applied_seq', 'The catalog change sequence this replica has fully applied (-1: none)', [], (g) => g.set(sync.report().applied_seq ?? -1));
  gauge('berth_registry_converged', 'Whether this replica serves exactly what the catalog asks (1) or not (0)', [], (g) => g.set(sync.report().converged ? 1 : 0));
  gauge('berth_registry_model_converged', "Per model: 1 when its applied traffic policy is the catalog's, else 0", ['model', 'state'], (g) => {
    g.reset();
    for (const m of sync.report().models) g.set({ model: m.name, state: m.state }, m.state === 'converged' ? 1 : 0);
  });
}
