/** `ckym counters …` flags: the settings' flags (from the settings table) and the command's own. */
export type CountersFlags = Record<string, unknown> & {
  json?: boolean;
  yes?: boolean;
  /** `--no-linking` sets it to false. */
  linking?: boolean;
  /** `--no-call-linking` (the flag's old name) sets it to false. */
  callLinking?: boolean;
};
