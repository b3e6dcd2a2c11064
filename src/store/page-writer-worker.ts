/**
 * The worker thread behind PageWriter: its own connection to the run's database, recording the pages the
 * sync thread sends, one transaction each, in the order they come. It answers every page (how many of its
 * calls were new, or the error), and closes its connection when told to.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from './store.js';
import type { PageMessage, WorkerAnswer, WorkerSetup } from './page-writer.js';

const { file, runId, batching } = workerData as WorkerSetup;
const port = parentPort!;
let store: Store | null = null;

port.on('message', (message: PageMessage | 'close') => {
  if (message === 'close') {
    store?.close();
    port.close();
    return;
  }
  let answer: WorkerAnswer;
  try {
    store ??= Store.open(file);
    answer = { fresh: store.recordPage(runId, message.calls, message.deliveries, batching) };
  } catch (error) {
    const e = error as { message?: string; code?: string };
    answer = { error: { message: String(e.message ?? error), code: typeof e.code === 'string' ? e.code : undefined } };
  }
  port.postMessage(answer);
});
