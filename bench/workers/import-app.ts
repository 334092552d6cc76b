import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { installFunctionsCore } from '../../dev/host/functions-core.js';
import { resolveFunctionModules } from '../../dev/host/project-config.js';
import { input, reply } from '../processes.js';

/**
 * P6: one cold import in a fresh process. `functions`: @azure/functions alone; `app`: every function
 * module the Functions worker would load (package.json `main`); `module`: one package, to see
 * where the time goes. Both after the stand-in for the
 * worker's @azure/functions-core is installed, as the worker has it before it loads the app.
 * `first-call`: the app as `app`, then what the first invocation pays before its own work: the
 * domain (`shared/app.js`, loaded on first use) and the composition root (`services()`).
 */
async function main(): Promise<void> {
  const { mode, projectRoot, specifier } = input<{
    mode: 'functions' | 'app' | 'module' | 'first-call';
    projectRoot: string;
    specifier?: string;
  }>();
  const registry = installFunctionsCore();
  const started = performance.now();
  if (mode === 'functions') {
    await import('@azure/functions');
  } else if (mode === 'module') {
    await import(specifier as string);
  } else {
    // 'app' and 'first-call'
    for (const file of resolveFunctionModules(projectRoot))
      await import(pathToFileURL(path.resolve(file)).href);
  }
  const importMs = performance.now() - started;
  let firstCallMs: number | undefined;
  if (mode === 'first-call') {
    const firstCall = performance.now();
    const domain = (await import(
      pathToFileURL(path.resolve(projectRoot, 'dist/shared/app.js')).href
    )) as typeof import('../../shared/app.js');
    domain.services();
    firstCallMs = performance.now() - firstCall;
  }
  await reply({
    importMs,
    ...(firstCallMs === undefined ? {} : { firstCallMs }),
    // Since the process began (node's own start-up included).
    sinceProcessStartMs: performance.now(),
    functions: registry.functions.length,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
