"""A hand-written boto3 idempotency claim loop: per key, a conditional PutItem
(claim, in progress under a lease), a trivial call, then a conditional
UpdateItem (completed, result kept), keys taken one at a time.

Why: it is one of the baselines courier's DynamoDB idempotency store is
compared with (issue 15, section 4): the least a Python caller can do per key.

usage: boto3_peer.py --endpoint URL --table NAME --keys N
Prints one JSON line: engine, keys, seconds (wall), keys_per_second,
cpu_seconds_per_key (this process).
"""
import argparse
import json
import os
import time

import boto3

LEASE_SECONDS = 60
KEEP_SECONDS = 3600  # as long as Powertools keeps a completed record by default
WARM_UP = 20

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--table", required=True)
parser.add_argument("--keys", type=int, required=True)
args = parser.parse_args()

dynamodb = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def ensure_table():
    try:
        dynamodb.describe_table(TableName=args.table)
        return
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    dynamodb.create_table(TableName=args.table, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    dynamodb.get_waiter("table_exists").wait(TableName=args.table)
    # TTL only reaps old records on a real table; the run does not need it.
    try:
        dynamodb.update_time_to_live(TableName=args.table, TimeToLiveSpecification={
            "AttributeName": "expiration", "Enabled": True})
    except Exception:
        pass


def trivial(key):
    return {"accepted": key}


def claim(key):
    now = int(time.time())
    lease = {"N": str(now + LEASE_SECONDS)}
    # A record whose lease ran out belongs to a caller that died: take it over.
    dynamodb.put_item(
        TableName=args.table,
        Item={"id": {"S": key}, "status": {"S": "IN_PROGRESS"}, "expiration": lease},
        ConditionExpression="attribute_not_exists(id) OR #expiry < :now",
        ExpressionAttributeNames={"#expiry": "expiration"},
        ExpressionAttributeValues={":now": {"N": str(now)}})
    result = trivial(key)
    # The lease's end doubles as the claim's token: a caller whose lease ran
    # out and was taken over must not mark the new owner's claim completed.
    dynamodb.update_item(
        TableName=args.table, Key={"id": {"S": key}},
        UpdateExpression="SET #status = :completed, #expiry = :expiry, #data = :data",
        ConditionExpression="#status = :in_progress AND #expiry = :lease",
        ExpressionAttributeNames={"#status": "status", "#expiry": "expiration", "#data": "data"},
        ExpressionAttributeValues={":completed": {"S": "COMPLETED"}, ":in_progress": {"S": "IN_PROGRESS"},
                                   ":lease": lease, ":expiry": {"N": str(int(time.time()) + KEEP_SECONDS)},
                                   ":data": {"S": json.dumps(result)}})


ensure_table()
# Keys carry the run's pid and start so reruns against one table never collide.
run = "%d-%d" % (os.getpid(), time.time_ns())
for i in range(WARM_UP):
    claim("boto3-%s-%d" % (run, i))
wall, cpu = time.perf_counter(), time.process_time()
for i in range(WARM_UP, WARM_UP + args.keys):
    claim("boto3-%s-%d" % (run, i))
seconds = time.perf_counter() - wall
cpu_seconds = time.process_time() - cpu
print(json.dumps({"engine": "boto3", "keys": args.keys, "seconds": seconds,
                  "keys_per_second": args.keys / seconds,
                  "cpu_seconds_per_key": cpu_seconds / args.keys}))
