"""boto3 doing the SQS benchmark's work, for courier_sqs_bench to compare with.

usage: sqs_bench_boto3.py ENDPOINT QUEUE_URL MESSAGES
Sends MESSAGES messages to a FIFO queue in batches of 10 (4 groups, a dedup
id each), and after each batch receives up to 10 and deletes them in one
batch, so the queue stays shallow; then drains the rest. Prints one JSON
line: seconds (wall), cpu_seconds (this process), received.
"""
import json
import sys
import time

import boto3

import boto3_queue  # beside this script

endpoint, queue_url, messages = sys.argv[1], sys.argv[2], int(sys.argv[3])
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
body = json.dumps({"vendor": "acme", "parcel": 0})


def receive_and_delete():
    return boto3_queue.receive_and_delete(sqs, queue_url)


wall, cpu = time.perf_counter(), time.process_time()
received = 0
for first in range(0, messages, 10):
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": str(i), "MessageBody": body, "MessageGroupId": "g%d" % ((first + i) % 4),
         "MessageDeduplicationId": "boto3-%d" % (first + i),
         "MessageAttributes": {"courier.type": {"DataType": "String", "StringValue": "pickup"}}}
        for i in range(min(10, messages - first))])
    received += receive_and_delete()
idle = 0
while received < messages and idle < 20:
    got = receive_and_delete()
    received += got
    idle = idle + 1 if got == 0 else 0
print(json.dumps({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
                  "received": received}))
