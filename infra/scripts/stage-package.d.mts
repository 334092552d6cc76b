/** Where the package is staged, relative to the project root. */
export declare const PACKAGE_DIR: string;
/** Root files the host reads. */
export declare const ROOT_FILES: readonly string[];
/** Compiled folders that run in Azure. */
export declare const RUNTIME_DIRS: readonly string[];

export interface StagePackageOptions {
  projectRoot: string;
  /** Default: `<projectRoot>/dist/azure-package`. */
  outDir?: string;
  /** Run `npm run build` first (and `npm ci` when node_modules is missing). Default true. */
  build?: boolean;
  /** Install production dependencies into the package with `npm ci --omit=dev`. Default true. */
  install?: boolean;
}

/** Stages the deployment package; returns the staged files, node_modules left out of the list. */
export declare function stagePackage(options: StagePackageOptions): string[];
