/**
 * Drift monitoring's public surface: reference profiles (build, save, load), the live monitor,
 * and `getDriftSnapshot` for code that reports drift elsewhere (metrics, dashboard).
 */
export { buildProfile, loadProfile, profilePath, saveProfile, compareFeature, compareTensors } from './profile.js';
export type { BuildProfileOptions, DriftProfile, FeatureDrift, FeatureProfile, ProfileSignature, TensorProfile } from './profile.js';
export { DriftMonitor, getDriftSnapshot } from './monitor.js';
export type { DriftOptions, DriftReport } from './monitor.js';
