"""moto_server, with DynamoDB's requests taken one at a time.

moto_server answers on many threads and its DynamoDB has no lock: two
conditional writes on one item that arrive together can both pass their
condition. Real DynamoDB applies a conditional write atomically, and that is
the property courier's DynamoDB store is built on and tested for. So this
launcher runs moto's own application, as moto_server does, with one lock
around each DynamoDB request (X-Amz-Target DynamoDB_20120810.*). SQS and the
other services keep moto's threads: a long poll must not hold up the rest.

    moto_serialized.py HOST PORT
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app


class SerializedDynamoDB:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # The whole answer is produced under the lock: moto builds it
                # before returning, but a lazy body would escape the lock.
                body = list(self.app(environ, start_response))
            return body
        return self.app(environ, start_response)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)), threaded=True)


if __name__ == "__main__":
    main()
