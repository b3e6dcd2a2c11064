/** `ckym cron`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface CronFlags {
  every?: string;
  log?: string;
  install?: boolean;
  json?: boolean;
}
