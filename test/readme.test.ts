// Every TypeScript block of every README compiles under strict TypeScript against the built
// packages, and the blocks marked `run` run on memory:// (test/readme-blocks.ts says how blocks
// are marked). A README example that stopped compiling is a bug a newcomer hits first.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { blocksOf, readmeFiles, type ReadmeBlock } from './readme-blocks.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Inside the repository, so the blocks' imports resolve to the workspace packages.
const WORK = path.join(ROOT, 'node_modules', '.cache', 'brokerkit-readme-test');

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const blocks = readmeFiles(ROOT).flatMap((file) => blocksOf(ROOT, file));
const where = (b: ReadmeBlock) => `${b.file}:${b.line}`;

t.test('the READMEs have the blocks a newcomer starts from', async (t) => {
  const root = blocks.filter((b) => b.file === 'README.md');
  t.ok(
    root.some((b) => b.lang === 'ts' && b.run),
    'README.md: the 30-second example is a TypeScript block that runs',
  );
  t.ok(
    root.some((b) => b.lang === 'js' && b.run),
    'README.md: a plain JavaScript block for Node 20 that runs',
  );
  t.ok(blocks.filter((b) => b.lang === 'ts').length >= 8, `${blocks.length} blocks found`);
});

t.test('every TypeScript block compiles (strict) and the runnable ones run on memory://', async (t) => {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  writeFileSync(path.join(WORK, 'package.json'), '{ "type": "module", "private": true }\n');
  const sources = new Map<string, { block: ReadmeBlock; firstCodeLine: number }>();
  blocks.forEach((block, i) => {
    if (block.lang !== 'ts') return;
    const header = `// ${where(block)}\n${block.prelude}\n`;
    const file = path.join(WORK, `block-${i}.ts`);
    // `export {}` makes every block a module (top-level await, no global clashes between blocks).
    writeFileSync(file, `${header}${block.code}\nexport {};\n`);
    sources.set(file, { block, firstCodeLine: header.split('\n').length });
  });
  const program = ts.createProgram([...sources.keys()], {
    strict: true,
    noEmitOnError: false,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    skipLibCheck: true,
    rootDir: WORK,
    outDir: path.join(WORK, 'out'),
  });
  const byFile = new Map<string, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file?.fileName ?? '';
    const source = sources.get(path.resolve(file));
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!source || !d.file || d.start === undefined) {
      t.fail(`compiler: ${text}`);
      continue;
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const readmeLine = source.block.line + (line + 1 - source.firstCodeLine);
    const list = byFile.get(file) ?? [];
    list.push(`${source.block.file}:${readmeLine}: TS${d.code} ${text}`);
    byFile.set(path.resolve(file), list);
  }
  for (const [file, { block }] of sources) {
    t.same(byFile.get(file) ?? [], [], `${where(block)} compiles`);
  }
  program.emit();

  for (const [file, { block }] of sources) {
    if (!block.run) continue;
    const js = path.join(WORK, 'out', path.basename(file).replace(/\.ts$/, '.js'));
    runs(t, block, js);
  }
});

t.test('plain JavaScript blocks marked `run` run unchanged as .mjs on this Node', async (t) => {
  mkdirSync(WORK, { recursive: true });
  blocks.forEach((block, i) => {
    if (block.lang !== 'js' || !block.run) return;
    const file = path.join(WORK, `block-${i}.mjs`);
    writeFileSync(file, `${block.code}\n`);
    runs(t, block, file);
  });
});

function runs(t: TapTest, block: ReadmeBlock, file: string): void {
  const env: NodeJS.ProcessEnv = { ...process.env, BROKER_URL: 'memory://' };
  delete env.NODE_OPTIONS; // tap's loader is for the tests, not for the README's code
  const result = spawnSync(process.execPath, [file], { cwd: WORK, env, encoding: 'utf8', timeout: 60_000 });
  t.equal(result.status, 0, `${where(block)} runs (exit 0)${result.stderr ? `\n${result.stderr}` : ''}`);
  t.equal(result.stderr, '', `${where(block)}: nothing on stderr`);
}
