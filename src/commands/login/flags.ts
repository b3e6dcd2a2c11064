/** `ckym login`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface LoginFlags {
  callkeeperKey?: string;
  yandexToken?: string;
  browser?: boolean;
  device?: boolean;
  code?: boolean;
  timeout?: string;
}
