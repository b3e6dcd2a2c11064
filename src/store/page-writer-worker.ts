/**
 * The worker thread behind PageWriter: its own connection to the run's database, recording the pages the
 * sync thread sends, one transaction each, in the order they come. It answers every page (how many of its
 * calls were new, or the error), and closes its connection when told to.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Store } from './store.js';
import { unpackPage, type PackedPage, type WorkerAnswer, type WorkerSetup } from './page-writer.js';

const { file, runId, batching } = workerData as WorkerSetup;
const port = parentPort!;
let store: Store | null = null;

port.on('message', (message: PackedPage | 'close') => {
  if (message === 'close') {
    store?.close();
    port.close();
    return;
  }
  let answer: WorkerAnswer;
  try {
    store ??= Store.open(file);
    const page = unpackPage(message);
    answer = { fresh: store.recordDecidedPage(runId, page.calls, page.decisions, batching) };
  } catch (error) {
    const e = error as { message?: string; code?: string };
    answer = { error: { message: String(e.message ?? error), code: typeof e.code === 'string' ? e.code : undefined } };
  }
  port.postMessage(answer);
});
