/** `ckym doctor`'s flags as commander parses them (index.ts declares them, run.ts reads them). */
export interface DoctorFlags {
  json?: boolean;
}
