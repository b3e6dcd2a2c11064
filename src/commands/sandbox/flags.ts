/** `ckym sandbox`'s flags as commander parses them (index.ts declares them, run.ts reads them): a default is a number, a given value text. */
export interface SandboxFlags {
  calls: string | number;
  days: string | number;
  seed: string | number;
  callkeeperPort: string | number;
  metrikaPort: string | number;
  oauthPort: string | number;
}
