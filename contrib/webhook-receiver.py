#!/usr/bin/env python3
"""A minimal Machinist webhook receiver that verifies Standard Webhooks
signatures with nothing but Python's standard library.

    WEBHOOK_SECRET=whsec_... python3 contrib/webhook-receiver.py [PORT]

It listens on 127.0.0.1:PORT (8787), checks each delivery's signature and
timestamp, prints one line per event, and answers 204 (or 401 when the
signature does not verify, so Machinist retries and the delivery's history
shows why). Receivers in other languages do the same four steps, marked below.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"]
# 1. The key is the base64 after the `whsec_` prefix.
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
TOLERANCE = 5 * 60  # seconds; refuse replays of old deliveries
seen_ids = set()  # a real receiver keeps these for a few days


def verified(headers, body: bytes) -> bool:
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    # 2. Sign "id.timestamp.body" with HMAC-SHA256 and base64 it.
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    # 3. The header holds one or more "v1,<signature>", space-separated (two
    #    while a secret is being rotated); any one matching is enough.
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            print("REFUSED: the signature does not verify", flush=True)
            return
        # 4. Drop repeats: a retried delivery keeps its webhook-id.
        msg_id = self.headers["webhook-id"]
        event = json.loads(body)
        if msg_id not in seen_ids:
            seen_ids.add(msg_id)
            print(f"verified {event['type']:<24} {msg_id}  {event['data'].get('summary', '')}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
