"""Verifies a costkit webhook request (docs/notifications.md, "Verifying webhook signatures").

Copy `verify` into your receiver. Run as a script for a quick check (the test suite does):
    python3 webhook_verify.py SECRET TIMESTAMP SIGNATURE < body   # exit 0 when valid
"""

import hashlib
import hmac
import sys
import time


def verify(secret: bytes, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    """True when the request is from costkit: a fresh timestamp and a matching v1 signature."""
    ts = headers.get("X-Costkit-Timestamp", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False  # missing, malformed, or a replay of an old request
    expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    # Several v1= values may be sent while a signing key is rotated; any match passes.
    for part in headers.get("X-Costkit-Signature", "").split(","):
        part = part.strip()
        if part.startswith("v1=") and hmac.compare_digest(part[3:], expected):
            return True
    return False


if __name__ == "__main__":
    secret, timestamp, signature = sys.argv[1:4]
    ok = verify(
        secret.encode(),
        {"X-Costkit-Timestamp": timestamp, "X-Costkit-Signature": signature},
        sys.stdin.buffer.read(),
    )
    sys.exit(0 if ok else 1)
