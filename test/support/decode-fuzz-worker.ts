/** The worker side of fuzzInWorker (test/support/decode-fuzz.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { type WorkerInput, type WorkerOutput, fuzzTarget, runDecodeFuzz } from './decode-fuzz';

const input = workerData as WorkerInput;
let output: WorkerOutput;
try {
  output = { figures: runDecodeFuzz(fuzzTarget(input.spec), input.options, new Int32Array(input.watch)) };
} catch (error) {
  // fast-check's message carries the seed, the path and the counterexample.
  output = { error: error instanceof Error ? error.message : String(error) };
}
parentPort?.postMessage(output);
