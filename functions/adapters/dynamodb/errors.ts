/** True for DynamoDB's failed-condition answer, whichever client produced it. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}
