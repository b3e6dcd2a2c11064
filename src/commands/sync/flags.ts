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
  /** `--adopt`: a new or lost database goes on after the uploads Metrica's list already holds. */
  adopt?: boolean;
}
