/** `ckym sync`'s flags, as commander hands them over (index.ts declares them, run.ts uses them). */
export interface SyncFlags {
  dryRun?: boolean;
  out?: string;
  counter?: string[];
  since?: string;
  quiet?: boolean;
  json?: boolean;
  /** `--retry-failed`: rows Metrica refused go back in line first. */
  retryFailed?: boolean;
}
