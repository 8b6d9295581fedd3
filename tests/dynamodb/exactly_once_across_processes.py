"""The exactly-once effect across hosts, proven with processes that crash.

Three consumer processes (exactly_once_peer consume) share one SQS FIFO queue
with a 2-second visibility timeout and one DynamoDB store. Their handlers
sometimes stall past the visibility timeout (another process then receives
the same message while the first still works) and sometimes throw. This
driver sends keyed parcel events over several groups, and meanwhile kills a
random consumer with SIGKILL at random moments (at least --kills times,
seeded; the seed is printed) and starts a new one in its place. Once the
queue has stayed empty for longer than a visibility timeout it reads the
effects table with boto3, no courier code, and
checks that every sent event was applied exactly once, none twice, none
lost, and each group's events in the order they were sent.

    exactly_once_across_processes.py PEER MOTO_DIR [--seed S] [--messages N]
        [--groups G] [--kills K] [--log FILE]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

import boto3


def show_handlings(log, failures):
    """The consumers' lines about the events a failure names."""
    if log == os.devnull or not os.path.exists(log):
        return
    named = set()
    for failure in failures:
        words = failure.split()
        if len(words) > 1 and words[1].startswith("#"):
            named.add(f"{words[0]}{words[1]} ")
    print(f"the consumers' handling of {sorted(named)} ({log}):")
    with open(log) as lines:
        for line in lines:
            if " driver " in line or any(name in line for name in named):
                print("  " + line.rstrip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("peer")
    parser.add_argument("moto_dir")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--messages", type=int, default=240)
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--consumers", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=240, help="seconds for the whole run")
    parser.add_argument("--log", default=os.devnull, help="the consumers' handling, one line each")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"seed {seed} (rerun with --seed {seed})", flush=True)
    dice = random.Random(seed)
    if args.log != os.devnull and os.path.exists(args.log):
        os.remove(args.log)

    def note(what):
        if args.log != os.devnull:
            with open(args.log, "a") as log:
                log.write(f"{int(time.time() * 1000)} driver {what}\n")

    with open(os.path.join(args.moto_dir, "endpoint")) as f:
        endpoint = f.read().strip()
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    run_id = f"{os.getpid()}-{seed}"
    queue, store, effects = f"exactly-once-{run_id}.fifo", f"applied-{run_id}", f"effects-{run_id}"

    def peer(*arguments):
        return [args.peer, *arguments]

    queue_url = subprocess.run(peer("setup", "--queue", queue, "--store", store, "--effects", effects),
                               env=env, check=True, capture_output=True, text=True).stdout.strip()

    consumers = {}
    started = 0

    def start_consumer(slot):
        nonlocal started
        started += 1
        name = f"c{slot}-{started}"
        note(f"starts {name}")
        consumers[slot] = subprocess.Popen(
            peer("consume", "--queue-url", queue_url, "--store", store, "--effects", effects,
                 "--name", name, "--seed", str(dice.randrange(1 << 32)), "--log", args.log),
            env=env, stdout=subprocess.DEVNULL)

    failures = []
    try:
        for slot in range(args.consumers):
            start_consumer(slot)
        sender = subprocess.Popen(peer("send", "--queue-url", queue_url, "--messages", str(args.messages),
                                       "--groups", str(args.groups)), env=env, stdout=subprocess.DEVNULL)

        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        deadline = time.monotonic() + args.deadline
        kills = 0
        next_kill = time.monotonic() + dice.uniform(0.5, 2.5)
        # Drained means empty for longer than a visibility timeout: a count of
        # zero once could be a moment between a message's states.
        empty_since = None
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if kills < args.kills and time.monotonic() >= next_kill:
                slot = dice.randrange(args.consumers)
                consumers[slot].send_signal(signal.SIGKILL)
                consumers[slot].wait()
                note(f"killed slot {slot}")
                kills += 1
                start_consumer(slot)
                next_kill = time.monotonic() + dice.uniform(0.5, 2.5)
                continue
            if sender.poll() is None or kills < args.kills:
                continue
            depth = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            if int(depth["ApproximateNumberOfMessages"]) == 0 and int(depth["ApproximateNumberOfMessagesNotVisible"]) == 0:
                if empty_since is None:
                    empty_since = time.monotonic()
                    note("the queue is empty")
                elif time.monotonic() - empty_since > 3:
                    break
            elif empty_since is not None:
                note(f"the queue was empty, and now holds {depth}")
                print(f"the queue was empty, and then held {depth}", flush=True)
                empty_since = None
        if sender.returncode != 0:
            failures.append(f"the sender failed (exit {sender.returncode})")
        print(f"{kills} consumers killed with SIGKILL, {started} started", flush=True)
        if kills < args.kills:
            failures.append(f"only {kills} kills happened before the deadline")

        # The engine's own state, read with boto3.
        items = []
        scan = {"TableName": effects, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**scan)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        parcels = {i["id"]["S"]: int(i["applications"]["N"]) for i in items if i["id"]["S"].startswith("parcel#")}
        orders = {i["id"]["S"][len("group#"):]: [int(n["N"]) for n in i["applied"]["L"]]
                  for i in items if i["id"]["S"].startswith("group#")}
        expected = {}
        for n in range(args.messages):
            group = f"g{n % args.groups}"
            expected.setdefault(group, []).append(len(expected.get(group, [])))
        for group, sequence in sorted(expected.items()):
            for seq in sequence:
                applications = parcels.get(f"parcel#{group}#{seq}", 0)
                if applications != 1:
                    # What the store holds for the key tells a message deleted
                    # unclaimed from an effect lost after its mark.
                    record = dynamodb.get_item(TableName=store, Key={"id": {"S": f"parcels#{group}-{seq}"}},
                                               ConsistentRead=True).get("Item", {})
                    status = record.get("status", {}).get("S", "no record")
                    failures.append(f"{group} #{seq} applied {applications} times (store: {status})")
            if orders.get(group) != sequence:
                failures.append(f"group {group} applied in the order {orders.get(group)}, sent as {sequence}")
        applied = sum(parcels.values())
        print(f"{args.messages} sent, {len(parcels)} distinct applied, {applied} applications in all", flush=True)
    finally:
        for process in consumers.values():
            process.send_signal(signal.SIGKILL)
            process.wait()
        boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").delete_queue(QueueUrl=queue_url)
    if failures:
        print(f"FAILED (seed {seed}):", *failures[:20], sep="\n  ")
        show_handlings(args.log, failures)
        sys.exit(1)
    print("every event applied exactly once, each group in send order")


if __name__ == "__main__":
    main()
