#!/usr/bin/env node
/**
 * Bundles the compiled CLI (tsc's dist/cli.js and the modules it imports) into dist/cli.js, one
 * file. A `berth` process lives for one command, as runc's: most of its time was Node resolving
 * and loading some 400 module files (rxjs alone: 0.15 s). Bundled, `berth list` takes about half
 * as long (docs/bench.md). The library (dist/index.js) is not bundled.
 *
 * classic-level stays external: it loads its native prebuild relative to its own files. rxjs is
 * taken from its ES module build, so that only the operators berth uses are kept.
 */
import { build } from 'esbuild';
import { chmodSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const out = join(root, 'dist', 'cli.js');

const result = await build({
  entryPoints: [out],
  bundle: true,
  write: false,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['classic-level', 'level'],
  alias: { rxjs: join(dirname(require.resolve('rxjs/package.json')), 'dist', 'esm', 'index.js') },
  // CommonJS dependencies (pino) call require(): give the ES module one.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module';\nconst require = __berthRequire(import.meta.url);" },
  logLevel: 'warning',
});
const code = result.outputFiles[0].text.replace(/^#!.*\n/, '');
writeFileSync(out, `#!/usr/bin/env node\n${code}`);
chmodSync(out, 0o755);
