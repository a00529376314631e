/**
 * The table's definition for CreateTable: used by the local runtime; infra/storage.ts
 * declares the same keys and indexes for AWS.
 */
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

/** The global secondary indexes (see table.ts): each keyed by `<name>pk` / `<name>sk`. */
export const GLOBAL_INDEXES = ["gsi1", "gsi2"] as const;

export function tableDefinition(tableName: string): CreateTableCommandInput {
  const index = (name: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: `${name}pk`, KeyType: "HASH" as const },
      { AttributeName: `${name}sk`, KeyType: "RANGE" as const },
    ],
    Projection: { ProjectionType: "ALL" as const },
  });
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: ["pk", "sk", ...GLOBAL_INDEXES.flatMap((i) => [`${i}pk`, `${i}sk`])].map(
      (AttributeName) => ({
        AttributeName,
        AttributeType: "S" as const,
      }),
    ),
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: GLOBAL_INDEXES.map(index),
  };
}
