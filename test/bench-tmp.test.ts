import { generateCalls } from '/work/wt-security/src/sandbox/generate.js';
import { parseKeepingDigits } from '/work/wt-security/src/clients/callkeeper.js';
const calls = generateCalls({ count: 1000, seed: 1, nowUnix: 1716195600, days: 6 });
const text = JSON.stringify(calls).replace(/"yaClid":"(\d+)"/g, '"yaClid":$1');
console.log('bytes', text.length, /\d{16}/.test(text));
for (let k = 0; k < 3; k++) {
  let t = performance.now(); for (let i = 0; i < 20; i++) JSON.parse(text); const a = (performance.now() - t) / 20;
  t = performance.now(); for (let i = 0; i < 20; i++) parseKeepingDigits(text); const b = (performance.now() - t) / 20;
  console.log('JSON.parse', a.toFixed(2), 'ms; keeping digits', b.toFixed(2), 'ms');
}
