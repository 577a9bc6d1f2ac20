/**
 * The code blocks of the repository's READMEs, as the README tests read them.
 *
 * A block is fenced with ```ts (or ```js). What the info string after the language says:
 * - nothing: the block is compiled (strict TypeScript, as a module) but not run;
 * - `run`: compiled and run with node on memory:// (exit 0, nothing on stderr);
 * - `ts`/`js` blocks are whole files a reader can copy; where a block shows a fragment of a
 *   larger program, an HTML comment right before it gives the declarations it assumes:
 *   `<!-- readme-test prelude: declare const app: FastifyInstance; -->` (invisible on GitHub).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { globSync } from 'glob';

/** One fenced block. */
export interface ReadmeBlock {
  /** Repository-relative README path. */
  readonly file: string;
  /** 1-based line of the first code line. */
  readonly line: number;
  readonly lang: 'ts' | 'js';
  readonly run: boolean;
  readonly code: string;
  /** Declarations from a `readme-test prelude` comment, compiled before the code. */
  readonly prelude: string;
}

const FENCE = /^```(ts|typescript|js|javascript|mjs)(?:\s+(.*))?$/;
const PRELUDE = /<!--\s*readme-test prelude:([\s\S]*?)-->\s*$/;

/** Every README of the repository (not node_modules, not build output). */
export function readmeFiles(root: string): string[] {
  return globSync('**/README.md', {
    cwd: root,
    ignore: ['**/node_modules/**', '**/dist/**', '.tap/**'],
  }).sort();
}

/** The ts/js blocks of one README. */
export function blocksOf(root: string, file: string): ReadmeBlock[] {
  const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    const before = lines.slice(Math.max(0, i - 12), i).join('\n');
    const prelude = PRELUDE.exec(before)?.[1]?.trim() ?? '';
    const lang = open[1]!.startsWith('t') ? 'ts' : 'js';
    const flags = (open[2] ?? '').split(/\s+/);
    blocks.push({
      file,
      line: start + 1,
      lang,
      run: flags.includes('run'),
      code: lines.slice(start, end).join('\n'),
      prelude,
    });
    i = end;
  }
  return blocks;
}
