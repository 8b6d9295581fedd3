"""boto3 doing the SNS fan-out benchmark's work, for courier_sns_bench to compare with.

usage: sns_bench_boto3.py ENDPOINT TOPIC_ARN EVENTS QUEUE_URL...
Publishes EVENTS events to a FIFO topic in PublishBatch requests of 10 (4
groups, a dedup id each, the attributes courier's publisher sets), and after
each batch receives up to 10 from each subscribed queue and deletes them in
one batch; then drains the queues. Prints one JSON line: seconds (wall),
cpu_seconds (this process), delivered (across the queues).
"""
import json
import sys
import time

import boto3

import boto3_queue  # beside this script

endpoint, topic, events, queues = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
settings = dict(endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="testing", aws_secret_access_key="testing")
sns = boto3.client("sns", **settings)
sqs = boto3.client("sqs", **settings)


def receive_and_delete(queue_url):
    return boto3_queue.receive_and_delete(sqs, queue_url)


def entry(i, n):
    key = "boto3-%d" % n
    return {"Id": str(i), "Message": json.dumps({"vendor": "acme", "parcel": n}),
            "MessageGroupId": "g%d" % (n % 4), "MessageDeduplicationId": key,
            "MessageAttributes": {"courier.type": {"DataType": "String", "StringValue": "pickup"},
                                  "courier.id": {"DataType": "String", "StringValue": key}}}


wall, cpu = time.perf_counter(), time.process_time()
delivered = 0
for first in range(0, events, 10):
    answer = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        entry(i, first + i) for i in range(min(10, events - first))])
    if answer.get("Failed"):
        raise SystemExit("SNS refused an event: %s" % answer["Failed"][0])
    for queue_url in queues:
        delivered += receive_and_delete(queue_url)
idle = 0
while delivered < events * len(queues) and idle < 20:
    got = sum(receive_and_delete(queue_url) for queue_url in queues)
    delivered += got
    idle = idle + 1 if got == 0 else 0
print(json.dumps({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                  "delivered": delivered}))
