"""The Python reference for heatgate's EC2 signature code (differential tests).

Reads one JSON document on stdin, {"cases": [...]}, and prints {"results": [...]},
one result per case:

- {"kind": "generate", "secret": S, "credentials": C}
  -> {"signature": ...} from keystoneclient's Ec2Signer(S).generate(C), or {"error": ...}
- {"kind": "check", "secret": S, "credentials": C}
  -> {"accepted": bool} or {"error": ...}: what Keystone's ec2tokens decides
  about the signature (generate, then once more with urlsplit('//' + host).hostname
  when the host has a colon, compared with hmac.compare_digest)
- {"kind": "botocore", "access", "secret", "method", "url", "headers": {..},
   "body": str, "region", "service", "presign": bool, "expires": int}
  -> {"url": ..., "headers": [[name, value], ...]} as botocore signs the request
- {"kind": "boto2", "access", "secret", "host", "port", "stack", "resource"}
  -> {"url": ..., "method": ..., "headers": [[name, value], ...]}: boto 2.49's
  SigV4 DescribeStackResource, as cfn-get-metadata sends it
"""

import copy
import hmac
import json
import sys
import urllib.parse


def generate(case):
    from keystoneclient.contrib.ec2 import utils

    signer = utils.Ec2Signer(case["secret"])
    return {"signature": signer.generate(copy.deepcopy(case["credentials"]))}


def check(case):
    from keystoneclient.contrib.ec2 import utils

    creds = copy.deepcopy(case["credentials"])
    provided = creds.get("signature")
    if not provided:
        return {"accepted": False}
    sig = utils.Ec2Signer(case["secret"]).generate(creds)
    if hmac.compare_digest(provided.encode(), sig.encode()):
        return {"accepted": True}
    if ":" in creds["host"]:
        creds["host"] = urllib.parse.urlsplit("//" + creds["host"]).hostname
        sig = utils.Ec2Signer(case["secret"]).generate(creds)
        return {"accepted": hmac.compare_digest(provided.encode(), sig.encode())}
    return {"accepted": False}


def botocore_sign(case):
    from botocore.auth import SigV4Auth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(case["access"], case["secret"])
    body = case.get("body") or None
    request = AWSRequest(method=case["method"], url=case["url"],
                         headers=dict(case.get("headers") or {}), data=body)
    if case.get("presign"):
        SigV4QueryAuth(creds, case["service"], case["region"],
                       expires=case.get("expires", 300)).add_auth(request)
    else:
        SigV4Auth(creds, case["service"], case["region"]).add_auth(request)
    prepared = request.prepare()
    return {"url": prepared.url,
            "headers": [[k, v] for k, v in prepared.headers.items()]}


def boto2_sign(case):
    from boto.cloudformation.connection import CloudFormationConnection
    from boto.regioninfo import RegionInfo

    class Captured(Exception):
        pass

    captured = {}

    def capture(request, *args, **kwargs):
        request.authorize(connection=conn)
        captured["request"] = request
        raise Captured()

    conn = CloudFormationConnection(
        aws_access_key_id=case["access"],
        aws_secret_access_key=case["secret"],
        is_secure=False, port=case["port"], path="/v1",
        region=RegionInfo(name="heat", endpoint=case["host"]))
    conn._mexe = capture
    try:
        conn.describe_stack_resource(case["stack"], case["resource"])
    except Captured:
        pass
    request = captured["request"]
    url = "http://%s:%s%s" % (case["host"], case["port"], request.path)
    return {"url": url, "method": request.method,
            "headers": [[k, v] for k, v in request.headers.items()]}


KINDS = {"generate": generate, "check": check, "botocore": botocore_sign,
         "boto2": boto2_sign}


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for case in cases:
        try:
            results.append(KINDS[case["kind"]](case))
        except Exception as e:  # the reference crashes: report it
            results.append({"error": "%s: %s" % (type(e).__name__, e)})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
