"""The parcel service as seven processes over SNS, SQS and DynamoDB, drivers
killed with SIGKILL at seeded random moments, checked by reading the
engines' own state with boto3.

usage: parcel_across_processes.py PARCEL_SERVICE MOTO_DIR [--kills N] [--seed S] [--parcels P]

Runs `PARCEL_SERVICE --aws <moto> --kills N --seed S --keep yes` (vendors,
the hub and two drivers as processes; drivers share their queue and the
DynamoDB store; the launcher kills a driver N times and starts it again).
Then, with boto3 (not courier):
  - the launcher's own verdict: every parcel delivered once, in order, every
    receipt back;
  - every queue of the run is empty, visible or in flight: nothing was left
    undelivered, and no duplicate was left behind for a service;
  - the drivers' DynamoDB records are exactly one per parcel, each APPLIED;
    how many were taken over (fence > 1) from a killed driver is reported.
Deletes what the run made, whatever the outcome. Exit 0 when all held.
"""
import argparse
import json
import os
import pathlib
import random
import subprocess
import sys

import boto3

VENDORS = ["acme", "bolt", "crate"]

parser = argparse.ArgumentParser()
parser.add_argument("parcel_service")
parser.add_argument("moto_dir")
parser.add_argument("--kills", type=int, default=5)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--parcels", type=int, default=10)
args = parser.parse_args()
seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
endpoint = (pathlib.Path(args.moto_dir) / "endpoint").read_text().strip()
print(f"seed {seed} (rerun with --seed {seed}); {args.kills} kills, {args.parcels} parcels per vendor", flush=True)

environment = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1")
run = subprocess.run([args.parcel_service, "--aws", endpoint, "--parcels", str(args.parcels),
                      "--kills", str(args.kills), "--seed", str(seed), "--keep", "yes"],
                     env=environment, capture_output=True, text=True, timeout=280)
print(run.stdout, end="")
print(run.stderr, end="", file=sys.stderr)
kept = next((json.loads(line[len("kept: "):]) for line in run.stdout.splitlines() if line.startswith("kept: ")), None)
problems = []
if run.returncode != 0 or "every parcel delivered once, in order, every receipt back" not in run.stdout:
    problems.append(f"the run's own check failed (exit {run.returncode})")
if run.stdout.count("killed with SIGKILL") != args.kills:
    problems.append(f"expected {args.kills} kills, the run reports {run.stdout.count('killed with SIGKILL')}")

session = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
               aws_secret_access_key="testing")
sqs, sns, dynamodb = (boto3.client(s, **session) for s in ("sqs", "sns", "dynamodb"))
if kept is None:
    problems.append("the run named nothing it kept")
else:
    try:
        for url in kept["queues"]:
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            left = int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"])
            if left:
                problems.append(f"{url} still holds {left} messages")
        items, start = [], None
        while True:
            page = dynamodb.scan(TableName=kept["table"], **({"ExclusiveStartKey": start} if start else {}))
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        expected = {f"drivers#{vendor}/{parcel}" for vendor in VENDORS for parcel in range(1, args.parcels + 1)}
        found = {item["id"]["S"] for item in items}
        if found != expected:
            problems.append(f"drivers' records: missing {sorted(expected - found)}, unexpected {sorted(found - expected)}")
        not_applied = [item["id"]["S"] for item in items if item["status"]["S"] != "APPLIED"]
        if not_applied:
            problems.append(f"records not APPLIED: {not_applied}")
        taken_over = sum(1 for item in items if int(item["fence"]["N"]) > 1)
        print(f"boto3: {len(kept['queues'])} queues read, {len(items)} drivers' records, "
              f"{taken_over} of them taken over from a killed driver")
    finally:
        for url in kept["queues"]:
            sqs.delete_queue(QueueUrl=url)
        sns.delete_topic(TopicArn=kept["topic"])
        dynamodb.delete_table(TableName=kept["table"])

for problem in problems:
    print("FAILED:", problem)
print("held" if not problems else f"seed {seed}: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
