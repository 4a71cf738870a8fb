// An exit reaped by the Monitor.
export interface Exit {
  pid: number;
  /** Exit code, or 128 + signal number. */
  status: number;
  at: Date;
}
