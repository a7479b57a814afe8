// Preloaded with `node --import` into a process whose peak memory a test or bench measures: at
// exit it writes the process's VmHWM (peak resident set since exec, in bytes) to the file named
// by BERTH_PEAK_RSS_FILE. VmHWM rather than getrusage's maxrss: Linux carries ru_maxrss across
// fork+exec, so a child of a large parent would report the parent's peak.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.BERTH_PEAK_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) writeFileSync(file, String(Number(kb) * 1024));
  });
}
