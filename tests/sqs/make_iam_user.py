"""CTest fixture step: creates an IAM user with an access key on a moto
server that checks signatures, and writes the key to DIR/key_id and
DIR/secret for the signature tests.

moto lets the first INITIAL_NO_AUTH_ACTION_COUNT actions through unsigned;
the fixture sets it to 4: moto.sh's readiness probe, then the three calls
here. Every request after them must be signed with a key moto knows.

usage: make_iam_user.py DIR
"""
import json
import pathlib
import sys

import boto3

state = pathlib.Path(sys.argv[1])
endpoint = (state / "endpoint").read_text().strip()
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="courier")
key = iam.create_access_key(UserName="courier")["AccessKey"]
iam.put_user_policy(UserName="courier", PolicyName="everything", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}))
(state / "key_id").write_text(key["AccessKeyId"])
(state / "secret").write_text(key["SecretAccessKey"])
print("IAM user courier with key", key["AccessKeyId"])
