// Builds the folder that azd zips and deploys to the Flex Consumption app (azure.yaml runs this
// as the api service's prepackage hook; `dist` points azd at the folder; `remoteBuild: false`
// deploys it as is). The folder holds exactly what the Functions host needs:
//   host.json, package.json, package-lock.json
//   dist/functions/**/*.js and dist/shared/**/*.js (what package.json "main" loads, and its imports)
//   node_modules with production dependencies only, installed from the lock file
// It builds first, and never touches the working tree's own node_modules.
//
// Run by hand: `node infra/scripts/stage-package.mjs` (add --no-install to skip `npm ci`).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the package is staged, relative to the project root (dist/ is ignored by git and tools). */
export const PACKAGE_DIR = 'dist/azure-package';
/** Root files the host reads. */
export const ROOT_FILES = ['host.json', 'package.json', 'package-lock.json'];
/** Compiled folders that run in Azure; dist/dev and dist/bench never deploy. */
export const RUNTIME_DIRS = ['dist/functions', 'dist/shared'];

/**
 * Stages the deployment package and returns the staged files (relative, '/'-separated, sorted,
 * node_modules left out of the list).
 * @param {{ projectRoot: string, outDir?: string, build?: boolean, install?: boolean }} options
 * @returns {string[]}
 */
export function stagePackage({ projectRoot, outDir, build = true, install = true }) {
  const target = outDir ?? path.join(projectRoot, PACKAGE_DIR);
  if (build) {
    if (!existsSync(path.join(projectRoot, 'node_modules')))
      run(['ci', '--no-audit', '--no-fund'], projectRoot);
    run(['run', 'build'], projectRoot);
  }
  for (const dir of RUNTIME_DIRS) {
    if (!existsSync(path.join(projectRoot, dir)))
      throw new Error(`${dir} is missing: build the project first`);
  }

  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const file of ROOT_FILES) cpSync(path.join(projectRoot, file), path.join(target, file));
  for (const dir of RUNTIME_DIRS) {
    cpSync(path.join(projectRoot, dir), path.join(target, dir), {
      recursive: true,
      filter: (source) => statSync(source).isDirectory() || /\.(js|json)$/.test(source),
    });
  }

  const staged = listFiles(target);
  if (!staged.some((file) => /^dist\/functions\/[^/]+\.js$/.test(file))) {
    throw new Error('no dist/functions/*.js was staged: the host would find no functions');
  }
  if (install) run(['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], target);
  return staged;
}

/** @param {string[]} args @param {string} cwd */
function run(args, cwd) {
  const result = spawnSync('npm', args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${cwd}`);
}

/** @param {string} root @returns {string[]} */
function listFiles(root) {
  /** @type {string[]} */
  const files = [];
  const walk = (/** @type {string} */ dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(root);
  return files.sort();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const staged = stagePackage({ projectRoot, install: !process.argv.includes('--no-install') });
  console.log(`staged ${staged.length} files (and production node_modules) in ${PACKAGE_DIR}`);
}
