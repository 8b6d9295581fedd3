// Powertools for AWS Lambda (TypeScript) idempotency, run on a plain function
// outside Lambda: one claim (conditional put, in progress), a trivial call and
// one completion (update) per key, keys taken one at a time.
// Why: it is one of the baselines courier's DynamoDB idempotency store is
// compared with (issue 15, section 4).
//   node powertools_peer.mjs --endpoint URL --table NAME --keys N
// Prints one JSON line: engine, keys, seconds (wall), keys_per_second,
// cpu_seconds_per_key (this process, user + system).
import { parseArgs } from 'node:util';
import {
  CreateTableCommand, DescribeTableCommand, DynamoDBClient,
  ResourceNotFoundException, UpdateTimeToLiveCommand, waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';

const { values: args } = parseArgs({
  options: { endpoint: { type: 'string' }, table: { type: 'string' }, keys: { type: 'string' } },
});
const keyCount = Number(args.keys);
const warmUp = 20;

const client = new DynamoDBClient({
  endpoint: args.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});

async function ensureTable() {
  try {
    await client.send(new DescribeTableCommand({ TableName: args.table }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await client.send(new CreateTableCommand({
    TableName: args.table,
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: args.table });
  // Real tables let DynamoDB reap expired records; the benchmark does not
  // depend on it, so an emulator without TTL is no reason to stop.
  await client.send(new UpdateTimeToLiveCommand({
    TableName: args.table,
    TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
  })).catch(() => {});
}

await ensureTable();

// The client is shared so table setup and the store use one connection pool.
const persistenceStore = new DynamoDBPersistenceLayer({ tableName: args.table, awsSdkV3Client: client });
// No Lambda event here: the idempotency key is the payload's `key` field.
const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', throwOnNoIdempotencyKey: true });
// Inside Lambda the in-progress lease is the invocation's remaining time; a
// stand-in context gives the same 60 s lease as the boto3 peer (and spares a
// warning per key on stderr).
config.registerLambdaContext({ getRemainingTimeInMillis: () => 60_000 });
const handle = makeIdempotent(async (order) => ({ accepted: order.key }), { persistenceStore, config });

// Keys carry the run's pid and start so reruns against one table never collide.
const run = `${process.pid}-${Date.now()}`;
const claim = async (first, count) => {
  for (let i = first; i < first + count; ++i) await handle({ key: `powertools-${run}-${i}` });
};

await claim(0, warmUp);
const cpu = process.cpuUsage();
const wall = process.hrtime.bigint();
await claim(warmUp, keyCount);
const seconds = Number(process.hrtime.bigint() - wall) / 1e9;
const used = process.cpuUsage(cpu);
console.log(JSON.stringify({
  engine: 'powertools',
  keys: keyCount,
  seconds,
  keys_per_second: keyCount / seconds,
  cpu_seconds_per_key: (used.user + used.system) / 1e6 / keyCount,
}));
client.destroy();
