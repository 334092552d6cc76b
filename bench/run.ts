import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalTlsCertificate } from '../dev/simulators/tls.js';
import { runSuite } from './suite.js';

/**
 * `npm run bench [-- --smoke] [-- --only P1,P4]`.
 *
 * Node trusts the simulators' self-signed certificate only through NODE_EXTRA_CA_CERTS, read at
 * process start. So this launcher makes the certificate, writes it to a temp folder and runs the
 * suite in a fresh copy of itself with NODE_EXTRA_CA_CERTS set (as `npm run dev` does for the app);
 * every process the suite starts inherits the trust.
 */

const TLS_DIR_VARIABLE = 'BENCH_TLS_DIR';
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Options {
  smoke: boolean;
  only: string[];
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { smoke: false, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--smoke') options.smoke = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : (argv[++i] ?? '');
      options.only.push(
        ...value
          .split(',')
          .map((v) => v.trim().toUpperCase())
          .filter(Boolean),
      );
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('npm run bench [-- --smoke] [-- --only P1,P4,...]\n');
      process.exit(0);
    } else {
      process.stderr.write(`Unknown argument ${arg}. Try --help.\n`);
      process.exit(2);
    }
  }
  return options;
}

async function launch(argv: readonly string[]): Promise<number> {
  const tls = await createLocalTlsCertificate();
  const dir = mkdtempSync(path.join(tmpdir(), 'dbs-bench-'));
  try {
    writeFileSync(path.join(dir, 'ca.pem'), tls.cert);
    writeFileSync(path.join(dir, 'key.pem'), tls.key, { mode: 0o600 });
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...argv], {
      cwd: projectRoot,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'), [TLS_DIR_VARIABLE]: dir },
      stdio: 'inherit',
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
    return await new Promise<number>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1))),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseArgs(argv);
  const tlsDir = process.env[TLS_DIR_VARIABLE];
  if (!tlsDir) {
    process.exitCode = await launch(argv);
    return;
  }
  const tls = {
    cert: readFileSync(path.join(tlsDir, 'ca.pem'), 'utf8'),
    key: readFileSync(path.join(tlsDir, 'key.pem'), 'utf8'),
  };
  await runSuite(tls, { ...options, projectRoot });
}

main().catch((error: unknown) => {
  process.stderr.write(
    `The benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
