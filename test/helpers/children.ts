// This process's children as /proc shows them, for zombie and leak checks in fixtures.
import * as fs from 'node:fs';

/** Children of this process from /proc: pid -> state letter (Z = zombie). */
export function ourChildren(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) out.set(Number(name), fields[0]);
  }
  return out;
}
