/**
 * V8 settings for berth's own process, applied before anything else is imported.
 *
 * Allocation-site pretenuring: when objects from one allocation site happen to survive a few
 * young-generation collections, V8 starts allocating that site's objects straight in the old
 * generation. A server's per-request objects live a millisecond or two, so once a site has been
 * pretenured (e.g. while requests wait in a batch queue) they die in the old generation and
 * keep the concurrent marker and full collections busy. Measured on the small-model serving
 * bench: old-space growth ~2.4 MB per scavenge and 7 mark-compacts in 6 s with pretenuring,
 * a flat heap and 2 without; main-thread CPU per request ~11% lower, GC helper threads
 * ~70% lower (docs/benchmarks.md). BERTH_V8_PRETENURING=1 keeps V8's default.
 */
import v8 from 'node:v8';

if (process.env.BERTH_V8_PRETENURING !== '1') v8.setFlagsFromString('--no-allocation-site-pretenuring');
