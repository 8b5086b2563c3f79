/**
 * The functions' memory, kept apart from the CDK constructs (no imports) so that the benchmark can
 * run the poll under the same heap limits without loading aws-cdk-lib into the process it
 * measures.
 */

/** Every function's memory unless its construct says otherwise (the poll's, for one). */
export const DEFAULT_MEMORY_MB = 512;

/**
 * The V8 heap limits Lambda's Node.js runtime starts a function of `memoryMb` with (its
 * bootstrap: a tenth of the memory for the young generation, half of that per semi-space, the
 * rest for the old generation). V8's own defaults on a large machine are far larger, so a
 * process measured without them shows a peak RSS the function never reaches.
 */
export function lambdaHeapFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}
