#!/usr/bin/env python3
"""Writes the seed corpus of the `ec2_request` fuzz target.

    python3 middleware/fuzz/seeds.py [OUT_DIR]

OUT_DIR defaults to corpus/ec2_request/ beside this script. Each seed is a
small file named `seed-<what it is>`; files named `seed-*` that this script no
longer writes are removed, anything else in OUT_DIR (libFuzzer's own entries)
is left alone. Stdlib only, deterministic: running it twice changes nothing.

The layout is the target's (fuzz_targets/ec2_request.rs): byte 0 picks the
method (index into GET, POST, PUT, DELETE, PATCH, HEAD), the rest is split on
0xFF into query, Authorization, Content-Type, X-Amz-Date, body.

The seeds are signed-looking requests (a signature and an access key, so
`read_request` gives `Reading::Signed` and `check_freshness` runs) whose time
stamps sit at the edges of what the ISO 8601 parser reads: year 9999 (which
once overflowed the sums in `check_freshness`), year 0000, offsets of +-14:00,
and X-Amz-Expires values around i64::MAX, in every place a time is read from:
the SigV2 query (`Timestamp`, `Expires`), the SigV4 `Authorization` header
with the `X-Amz-Date` header, the SigV4 presigned query, form bodies and
multipart bodies. The "recent" stamp is fixed (a stamp of the real current
time would change the committed corpus on every run); the target also checks
freshness under rules of a century, where it is fresh.
"""

import os
import sys
from urllib.parse import quote

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
SEP = b"\xff"

ACCESS = "AKIDEXAMPLE0123456789"
SIG_V2 = "9zmU54nt8X4wxPl1OKjXbZ79Qhf/kXo4HtanI2uO7ec="
SIG_V4 = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
RECENT = "2026-12-07T23:30:00Z"
RECENT_BASIC = "20261207T233000Z"

V2_STAMPS = {
    "9999z": "9999-12-31T23:59:59Z",
    "9999-frac": "9999-12-31T23:59:59.999999Z",
    "9999-minus14": "9999-12-31T23:59:59-14:00",
    "9999-basic": "99991231T235959Z",
    "0000z": "0000-01-01T00:00:00Z",
    "0000-plus14": "0000-01-01T00:00:00+14:00",
    "recent": RECENT,
}
V4_DATES = {
    "9999": "99991231T235959Z",
    "0000": "00000101T000000Z",
    "recent": RECENT_BASIC,
}
V4_EXPIRES = {
    "0": "0",
    "7d": "604800",
    "i64max": "9223372036854775807",
    "20digits": "99999999999999999999",
    "neg1": "-1",
}


def encode(params):
    """A query string or form body, percent-encoded as a client would."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)


def request(method, query="", authorization="", content_type="", amz_date="", body=""):
    fields = [query, authorization, content_type, amz_date, body]
    out = bytes([METHODS.index(method)])
    return out + SEP.join(f.encode("ascii") for f in fields)


def v2_params(stamp_key="Timestamp", stamp=RECENT, extra=()):
    return [
        ("AWSAccessKeyId", ACCESS),
        ("SignatureMethod", "HmacSHA256"),
        ("SignatureVersion", "2"),
        (stamp_key, stamp),
        *extra,
        ("Signature", SIG_V2),
    ]


def v4_presigned(date, expires, credential_date=None):
    scope_date = credential_date or date[:8]
    return [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{ACCESS}/{scope_date}/RegionOne/ec2/aws4_request"),
        ("X-Amz-Date", date),
        ("X-Amz-Expires", expires),
        ("X-Amz-SignedHeaders", "host"),
        ("X-Amz-Signature", SIG_V4),
    ]


def v4_authorization(scope_date):
    return (
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/{scope_date}/RegionOne/ec2/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={SIG_V4}"
    )


def multipart(params, boundary="heatgate-boundary"):
    parts = []
    for k, v in params:
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
    return "".join(parts) + f"--{boundary}--\r\n", f"multipart/form-data; boundary={boundary}"


FORM = "application/x-www-form-urlencoded"


def seeds():
    out = {}
    # SigV2 in the query, every edge stamp as Timestamp, then as Expires.
    for name, stamp in V2_STAMPS.items():
        out[f"v2-get-timestamp-{name}"] = request("GET", encode(v2_params("Timestamp", stamp)))
    for name in ["9999z", "9999-minus14", "0000z", "0000-plus14", "recent"]:
        out[f"v2-get-expires-{name}"] = request(
            "GET", encode(v2_params("Expires", V2_STAMPS[name]))
        )
    out["v2-get-timestamp-recent-expires-9999"] = request(
        "GET", encode(v2_params("Timestamp", RECENT, [("Expires", "9999-12-31T23:59:59Z")]))
    )
    # The stamp unencoded, as a sloppy client sends it.
    out["v2-get-timestamp-9999-raw"] = request(
        "GET",
        "&".join(f"{k}={v}" for k, v in v2_params("Timestamp", "9999-12-31T23:59:59Z")),
    )
    # SigV2 in a form body (POST and PUT), and in a multipart body.
    for name in ["9999z", "9999-minus14", "0000z", "recent"]:
        body = encode(v2_params("Timestamp", V2_STAMPS[name]))
        out[f"v2-post-form-timestamp-{name}"] = request("POST", content_type=FORM, body=body)
    out["v2-post-form-no-content-type-9999z"] = request(
        "POST", body=encode(v2_params("Timestamp", V2_STAMPS["9999z"]))
    )
    out["v2-put-form-timestamp-9999z"] = request(
        "PUT", content_type=FORM + "; charset=utf-8",
        body=encode(v2_params("Timestamp", V2_STAMPS["9999z"])),
    )
    out["v2-post-form-expires-0000z"] = request(
        "POST", content_type=FORM, body=encode(v2_params("Expires", V2_STAMPS["0000z"]))
    )
    for name in ["9999z", "0000-plus14"]:
        body, ct = multipart(v2_params("Timestamp", V2_STAMPS[name]))
        out[f"v2-post-multipart-timestamp-{name}"] = request("POST", content_type=ct, body=body)
    # SigV4, Authorization header with the X-Amz-Date header.
    for name, date in V4_DATES.items():
        out[f"v4-header-amzdate-{name}"] = request(
            "GET", authorization=v4_authorization(date[:8]), amz_date=date
        )
    out["v4-header-amzdate-9999-minus14"] = request(
        "GET", authorization=v4_authorization("99991231"), amz_date="9999-12-31T23:59:59-14:00"
    )
    out["v4-header-amzdate-9999-expires-7d"] = request(
        "GET",
        encode([("X-Amz-Expires", "604800")]),
        authorization=v4_authorization("99991231"),
        amz_date=V4_DATES["9999"],
    )
    out["v4-header-post-form-amzdate-9999"] = request(
        "POST",
        authorization=v4_authorization("99991231"),
        content_type=FORM,
        amz_date=V4_DATES["9999"],
        body=encode([("Action", "DescribeStacks"), ("Version", "2010-05-15")]),
    )
    # SigV4 presigned in the query: every date with every X-Amz-Expires.
    for dname, date in V4_DATES.items():
        for ename, expires in V4_EXPIRES.items():
            out[f"v4-presigned-{dname}-expires-{ename}"] = request(
                "GET", encode(v4_presigned(date, expires))
            )
    # ... in a form body and a multipart body.
    for dname in ["9999", "0000"]:
        params = v4_presigned(V4_DATES[dname], "604800")
        out[f"v4-presigned-post-form-{dname}"] = request(
            "POST", content_type=FORM, body=encode(params)
        )
        body, ct = multipart(params)
        out[f"v4-presigned-post-multipart-{dname}"] = request("POST", content_type=ct, body=body)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "ec2_request")
    os.makedirs(out_dir, exist_ok=True)
    wanted = {f"seed-{name}": data for name, data in seeds().items()}
    for old in os.listdir(out_dir):
        if old.startswith("seed-") and old not in wanted:
            os.remove(os.path.join(out_dir, old))
    for name, data in sorted(wanted.items()):
        path = os.path.join(out_dir, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        with open(path, "wb") as f:
            f.write(data)
    print(f"{len(wanted)} seeds in {out_dir}")


if __name__ == "__main__":
    main()
