#!/usr/bin/env python3
"""Cold start, warm latency and peak memory of the Lambda functions, measured by hand (never in CI).

Runs each function binary as Lambda would, against a minimal Lambda Runtime API served here (the
documented `/2018-06-01/runtime/invocation/next` and `/response` / `/error` routes) and AWS
services emulated by moto, with the real event payloads in events/.

  cold start  process start -> the function's first `GET /invocation/next` (its init: config,
              AWS clients, tracing; what Lambda bills as Init Duration)
  warm        event handed out -> response posted, median and max of the warm invocations
  peak RSS    VmHWM of the process after all invocations

Usage (scripts/lambda-bench.sh builds the binaries and starts moto first):
  python3 scripts/lambda-bench.py BIN_DIR MOTO_ENDPOINT [--invocations N]
Needs boto3 (the moto venv has it).
"""
import argparse
import http.server
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FUNCTIONS = [
    # (binary, event file, COSTKIT_* settings it needs)
    ("ingest", "schedule-daily.json"),
    ("normalize", "sqs-normalize-job.json"),
    ("budget-check", "sqs-data-updated.json"),
    ("anomaly", "sqs-data-updated.json"),
    ("notify", "sqs-finding.json"),
    ("report", "function-url-report-csv.json"),
]


class RuntimeApi(http.server.ThreadingHTTPServer):
    """One function's Runtime API: hands out queued events and records the answers."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.events = queue.Queue()
        self.first_next = None
        self.sent = {}
        self.done = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        if self.path != "/2018-06-01/runtime/invocation/next":
            self.send_error(404)
            return
        if srv.first_next is None:
            srv.first_next = time.perf_counter()
        event = srv.events.get()
        rid = str(uuid.uuid4())
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 900_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:costkit-bench",
        )
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        srv.sent[rid] = time.perf_counter()
        self.wfile.write(body)

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        parts = self.path.split("/")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if self.path.startswith("/2018-06-01/runtime/init/error"):
            srv.done.put(("init-error", 0.0, body))
            return
        rid, kind = parts[-2], parts[-1]
        took = time.perf_counter() - srv.sent.pop(rid, time.perf_counter())
        srv.done.put((kind, took, body))


def setup_aws(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb, s3, sqs, sns = (boto3.client(s, **kw) for s in ("dynamodb", "s3", "sqs", "sns"))
    table, bucket = "costkit-bench", "costkit-bench"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=bucket)
    with open(os.path.join(ROOT, "docs/budgets.example.yaml"), "rb") as f:
        s3.put_object(Bucket=bucket, Key="config/budgets.yaml", Body=f.read())
    s3.put_object(Bucket=bucket, Key="config/monitors.yaml",
                  Body=b"version: 1\nmonitors:\n  - name: total\n    currency: USD\n")
    # The normalize event's two parts: a FOCUS sample as the first part's object.
    job = json.loads(json.load(open(os.path.join(ROOT, "events/sqs-normalize-job.json")))
                     ["Records"][0]["body"])
    sample = os.path.join(ROOT, "samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv")
    for part in job["parts"]:
        for key in part:
            with open(sample, "rb") as f:
                s3.put_object(Bucket=bucket, Key=key.replace(".snappy.parquet", ".csv"), Body=f.read())
    normalize_q = sqs.create_queue(QueueName="normalize")["QueueUrl"]
    findings_q = sqs.create_queue(QueueName="findings")["QueueUrl"]
    analysis = sns.create_topic(Name="data-updated")["TopicArn"]
    alerts = sns.create_topic(Name="alerts")["TopicArn"]
    return {
        "COSTKIT_TABLE": table,
        "COSTKIT_BUCKET": bucket,
        "COSTKIT_NORMALIZE_QUEUE_URL": normalize_q,
        "COSTKIT_FINDINGS_QUEUE_URL": findings_q,
        "COSTKIT_ANALYSIS_TOPIC_ARN": analysis,
        "COSTKIT_TOPIC_ARN": alerts,
        "COSTKIT_REPORT_AUTH": "AWS_IAM",
    }


def event_for(name, file):
    e = json.load(open(os.path.join(ROOT, "events", file)))
    if name == "normalize":
        # Point the job at the CSV copies uploaded above (a FOCUS CSV normalizes like the Parquet).
        rec = e["Records"][0]
        job = json.loads(rec["body"])
        job["parts"] = [[k.replace(".snappy.parquet", ".csv") for k in p] for p in job["parts"]]
        rec["body"] = json.dumps(job)
        rec.pop("md5OfBody", None)
    return e


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measure(bin_dir, name, event, env, invocations):
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    for _ in range(invocations):
        api.events.put(event)
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": f"costkit-{name}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/costkit-{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "_HANDLER": "bootstrap",
        "COSTKIT_LOG_FORMAT": "json",
        "RUST_LOG": "warn",
    })
    binary = os.path.join(bin_dir, name)
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = []
    try:
        for _ in range(invocations):
            kind, took, body = api.done.get(timeout=120)
            if kind != "response":
                raise SystemExit(f"{name}: {kind}: {body[:500]!r}")
            results.append((took, body))
        rss = peak_rss_kb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        api.shutdown()
    cold = (api.first_next - t0) * 1000
    warm = [t * 1000 for t, _ in results[1:]] or [results[0][0] * 1000]
    return {
        "function": name,
        "cold_start_ms": round(cold, 1),
        "first_invocation_ms": round(results[0][0] * 1000, 1),
        "warm_p50_ms": round(statistics.median(warm), 1),
        "warm_max_ms": round(max(warm), 1),
        "peak_rss_mb": round(rss / 1024, 1),
        "binary_mb": round(os.path.getsize(binary) / 1e6, 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("moto_endpoint")
    ap.add_argument("--invocations", type=int, default=20)
    a = ap.parse_args()
    env = setup_aws(a.moto_endpoint)
    env.update({
        "COSTKIT_AWS_ENDPOINT": a.moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    rows = []
    for name, file in FUNCTIONS:
        rows.append(measure(a.bin_dir, name, event_for(name, file), env, a.invocations))
    cols = list(rows[0].keys())
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    sys.exit(main())
