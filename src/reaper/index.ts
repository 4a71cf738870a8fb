export { Monitor, resolveExecutable, spawnDetached } from './monitor.js';
export type { Disposable, MonitorSpawnOptions, RunOptions, RunResult } from './monitor.js';
export type { Exit } from './exit.js';
