// `tsshim doctor`: gathers the facts, runs the checks, prints each finding with its fix.
import { allChecks, type Finding } from './doctor/checks.js';
import { gatherFacts, type FactOptions } from './doctor/facts.js';

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** Prints the findings; resolves to the exit status: 0 only when nothing failed. */
export async function doctor(opts: FactOptions & { json: boolean }): Promise<number> {
  const findings: Finding[] = allChecks(await gatherFacts(opts));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  } else {
    for (const f of findings) {
      process.stdout.write(`${MARK[f.level]} ${f.check}: ${f.message}\n`);
      if (f.fix !== '') process.stdout.write(`     fix: ${f.fix}\n`);
    }
  }
  return findings.some((f) => f.level === 'fail') ? 1 : 0;
}
