/** `ckym login`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface LoginFlags {
  callkeeperKey?: string;
  yandexToken?: string;
  browser?: boolean;
  device?: boolean;
  code?: boolean;
  /** Seconds: the default is a number, a given value is text. */
  timeout?: string | number;
}
