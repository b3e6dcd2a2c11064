/** `ckym sandbox`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface SandboxFlags {
  calls: string;
  days: string;
  seed: string;
  callkeeperPort: string;
  metrikaPort: string;
  oauthPort: string;
}
