"""The AWS SDK users already have, as the other end of the interop tests.

  boto3_peer.py send ENDPOINT QUEUE_URL BODY GROUP DEDUP
      sends one message with a String attribute kind=from-boto3
  boto3_peer.py receive ENDPOINT QUEUE_URL
      receives one message (waiting up to 5 s), deletes it, and prints it as
      JSON: body, group, dedup id, attributes
"""
import json
import sys

import boto3

action, endpoint, queue_url = sys.argv[1:4]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
if action == "send":
    body, group, dedup = sys.argv[4:7]
    sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId=group,
                     MessageDeduplicationId=dedup,
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "from-boto3"}})
elif action == "receive":
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5,
                              AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if not got:
        print(json.dumps(None))
        sys.exit(0)
    m = got[0]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    print(json.dumps({
        "body": m["Body"],
        "group": m["Attributes"].get("MessageGroupId"),
        "dedup": m["Attributes"].get("MessageDeduplicationId"),
        "attributes": {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()},
    }))
else:
    sys.exit("unknown action " + action)
