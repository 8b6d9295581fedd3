"""What the boto3 peers of the SQS and SNS benchmarks share: one receive of up
to 10 messages and their deletion in one batch, as courier's side does."""


def receive_and_delete(sqs, queue_url):
    """Receives up to 10 messages of queue_url, deletes them in one batch; returns how many."""
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                              AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if got:
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    return len(got)
