/**
 * Piscina entry point of the block pipeline: one task at a time per thread, see src/pipeline/tasks.ts.
 */
import { initHasher } from "../src/pipeline/hash.js";
import { type BlockTask, runTask } from "../src/pipeline/tasks.js";

await initHasher();

export default function blockWorker(task: BlockTask): ReturnType<typeof runTask> {
  return runTask(task);
}
