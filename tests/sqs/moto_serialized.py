"""moto's server, answering one request at a time, with SQS long polls kept.

moto_server answers on many threads, and neither its SQS nor its DynamoDB
holds a lock. Two conditional writes on one DynamoDB item that arrive
together can both pass their condition; two ReceiveMessage calls that arrive
together can hand two consumers messages of one FIFO group at once (each
looks at the groups in flight before the other marks its own), so a later
message is handled before an earlier one. Real DynamoDB and SQS do neither,
and courier's exactly-once and FIFO guarantees are built on that and tested
for it. So this launcher runs moto's own application, as moto_server does,
behind one lock: every request is answered alone.

moto also breaks a FIFO group's order when the messages of one receive run
out their visibility timeout together: a receive frees the group only once
it has passed all of them (and reads the clock again for each, so one whose
time ran out a microsecond later frees it mid-way), and hands over the last
one first. Here a receive reads the clock once, frees every in-flight
message whose visibility ran out by then, as SQS does, and then picks each
group's earliest.

moto's FIFO SNS topics do not dedup: they hand the MessageDeduplicationId
to each subscribed FIFO queue, which forgets it once the first copy has been
deleted, so a copy published a moment later is delivered again. Here a FIFO
topic drops a dedup id it took in the last five minutes, as SNS does.

A long poll (ReceiveMessage with WaitTimeSeconds > 0) would hold that lock
for its whole wait and stop every other client, the senders it waits for
among them. It is answered as SQS answers it, by short polls under the lock
(WaitTimeSeconds 0) every 20 ms with the lock released in between, until
messages come or the wait is over. A signed body cannot be rewritten, but
only these polls are, and the signature tests use none.

    moto_serialized.py HOST PORT
"""
import hashlib
import io
import json
import sys
import threading
import time

from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app
import moto.sns.models as sns_models
import moto.sqs.models as sqs_models

moto_receive_message = sqs_models.SQSBackend.receive_message


def receive_in_group_order(self, queue_name, *args, **kwargs):
    # Safe to swap a module's clock: the lock below lets one request run.
    clock = sqs_models.unix_time_millis
    now = clock()
    sqs_models.unix_time_millis = lambda *_: now
    try:
        queue = self.get_queue(queue_name)
        for message in list(queue.pending_messages):
            if message.visible:  # its visibility timeout ran out: no longer in flight
                queue.pending_messages.discard(message)
        return moto_receive_message(self, queue_name, *args, **kwargs)
    finally:
        sqs_models.unix_time_millis = clock


sqs_models.SQSBackend.receive_message = receive_in_group_order

moto_publish = sns_models.SNSBackend.publish
FIFO_DEDUP_SECONDS = 300


def publish_once_per_dedup_id(self, message, arn=None, **kwargs):
    """A FIFO topic drops a message whose dedup id it took in the last five
    minutes and answers with the first one's id, as SNS does. moto passes the
    id on to the subscribed FIFO queues instead, and those forget it once
    the first copy is deleted, so a copy published later reached them."""
    topic = self.topics.get(arn) if arn else None
    if topic is None or not topic.fifo_topic:
        return moto_publish(self, message, arn, **kwargs)
    dedup_id = kwargs.get("deduplication_id")
    if not dedup_id and topic.content_based_deduplication:
        dedup_id = hashlib.sha256(message.encode()).hexdigest()
    if not dedup_id:
        return moto_publish(self, message, arn, **kwargs)
    taken = topic.__dict__.setdefault("courier_dedup_ids", {})  # gone with the topic, as on AWS
    now = time.monotonic()
    first = taken.get(dedup_id)
    if first is not None and now - first[1] < FIFO_DEDUP_SECONDS:
        return first[0]
    message_id = moto_publish(self, message, arn, **kwargs)
    taken[dedup_id] = (message_id, now)
    return message_id


sns_models.SNSBackend.publish = publish_once_per_dedup_id


class OneRequestAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def answer(self, environ):
        """The app's whole answer to one request, produced under the lock."""
        reply = {}

        def start_response(status, headers, exc_info=None):
            reply["status"], reply["headers"] = status, headers

        with self.lock:
            reply["body"] = b"".join(self.app(environ, start_response))
        return reply

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        wait = 0
        if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
            request = json.loads(body or b"{}")
            wait = int(request.get("WaitTimeSeconds", 0))
            if wait > 0:
                request["WaitTimeSeconds"] = 0
                body = json.dumps(request).encode()
        deadline = time.monotonic() + wait
        while True:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            reply = self.answer(environ)
            if wait == 0 or time.monotonic() >= deadline or not reply["status"].startswith("200"):
                break
            if json.loads(reply["body"] or b"{}").get("Messages"):
                break
            time.sleep(0.02)
        start_response(reply["status"], reply["headers"])
        return [reply["body"]]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, OneRequestAtATime(DomainDispatcherApplication(create_backend_app)), threaded=True)


if __name__ == "__main__":
    main()
