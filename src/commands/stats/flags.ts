/** `ckym stats`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface StatsFlags {
  json?: boolean;
  since?: string;
  counter?: string[];
  refresh?: boolean;
}
