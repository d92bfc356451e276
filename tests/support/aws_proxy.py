#!/usr/bin/env python3
"""A recording, fault-injecting HTTP proxy between AWS clients and moto.

Black-box tests point driftd (or SDK clients) at this proxy instead of moto.
Every request is forwarded unchanged to the upstream emulator, and each AWS
call is recorded as (service, operation, status). Fault rules make the proxy
answer chosen calls itself: with the service's real throttling error, with
another error, or with a success that never reaches moto (a silently ignored
write).

Usage: aws_proxy.py --upstream http://127.0.0.1:PORT [--port N] [-v]

With --port 0 (the default) the chosen port is printed as the first line on
stdout. Logs go to stderr. The proxy exits when stdin closes or on SIGTERM.

Control API, on the same port:
  GET  /__proxy/calls   -> [{"service", "operation", "status", "injected",
                             "fault", "received_us"}, ...] in the order the
                           answers were sent; received_us: when the request
                           arrived, in microseconds of the proxy's monotonic
                           clock
  POST /__proxy/reset   -> forgets the recorded calls (fault rules stay)
  GET  /__proxy/faults  -> the rules in force, each with its "fired" count
  POST /__proxy/faults  <- a JSON list of rules, replacing the rules in force
                           (`[]` removes every rule)

A rule: {"action": "throttle" | "error" | "drop",
         "operation": "PutMetricAlarm",   # optional: any operation
         "service": "monitoring",         # optional: the SigV4 signing name
         "every": 2,                      # optional: every Nth matching call (1)
         "count": 3,                      # optional: fire at most this often
         "code": "...", "status": 429,    # optional, throttle/error only
         "message": "..."}                # optional, throttle/error only
Each rule counts the calls it matches on its own; the first rule (in list
order) that fires answers the call.

Services are named as in the SigV4 credential scope: monitoring (CloudWatch),
sns, secretsmanager, ecs, application-autoscaling, tagging.

Python 3.11 standard library only.
"""

import argparse
import gzip
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PREFIX = "/__proxy/"

# Headers that describe one connection, not the message: never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}

# The throttling error each service really answers with, by SigV4 signing
# name: (HTTP status, error code). Sources: botocore's service models
# (resourcegroupstaggingapi models ThrottledException) and the common errors of
# the Query and JSON protocols ("Throttling" for Query services such as
# CloudWatch and SNS, "ThrottlingException" for JSON services).
# SNS also models `ThrottledException` (code "Throttled", 429) for a few
# operations; the error SNS answers when an account's API rate is exceeded is
# the common Query `Throttling`, 400. A rule's "code"/"status" can pick another.
THROTTLE = {
    "monitoring": (400, "Throttling"),
    "sns": (400, "Throttling"),
    "secretsmanager": (400, "ThrottlingException"),
    "ecs": (400, "ThrottlingException"),
    "application-autoscaling": (400, "ThrottlingException"),
    "tagging": (400, "ThrottledException"),
}
THROTTLE_DEFAULT = {"query": (400, "Throttling"), "json": (400, "ThrottlingException")}
THROTTLE_MESSAGE = "Rate exceeded"

ERROR_DEFAULT = {"query": (500, "InternalFailure"), "json": (500, "InternalFailure")}

ACTIONS = ("throttle", "error", "drop")
RULE_KEYS = {"action", "operation", "service", "every", "count", "code", "status", "message"}

VERBOSE = False


def log(message):
    print(f"aws_proxy: {message}", file=sys.stderr, flush=True)


class Call:
    """What a request is: its protocol, service and operation, as far as known."""

    def __init__(self, protocol, service, operation, query_version=None, json_type=None):
        self.protocol = protocol  # "query", "json" or None
        self.service = service
        self.operation = operation
        self.query_version = query_version
        self.json_type = json_type


def signing_service(headers):
    """The service of a SigV4 credential scope: Credential=AKID/date/region/SERVICE/aws4_request."""
    auth = headers.get("Authorization", "")
    marker = "Credential="
    start = auth.find(marker)
    if start < 0:
        return None
    credential = auth[start + len(marker) :].split(",", 1)[0].strip()
    parts = credential.split("/")
    if len(parts) >= 5 and parts[-1] == "aws4_request":
        return parts[-2]
    return None


def identify(method, path, headers, body):
    """Names the call: JSON protocols by X-Amz-Target, Query by its Action parameter."""
    service = signing_service(headers)
    target = headers.get("X-Amz-Target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        content_type = headers.get("Content-Type", "application/x-amz-json-1.1")
        return Call("json", service, operation, json_type=content_type)
    params = {}
    query = urllib.parse.urlsplit(path).query
    if query:
        params.update(urllib.parse.parse_qs(query))
    content_type = headers.get("Content-Type", "")
    if method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        text = body
        if headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                text = gzip.decompress(body)
            except OSError:
                text = b""
        params.update(urllib.parse.parse_qs(text.decode("utf-8", "replace")))
    action = params.get("Action")
    if action:
        version = (params.get("Version") or [None])[0]
        return Call("query", service, action[0], query_version=version)
    return Call(None, service, None)


class Rule:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ValueError(f"a rule must be an object, got {spec!r}")
        unknown = set(spec) - RULE_KEYS
        if unknown:
            raise ValueError(f"unknown rule keys {sorted(unknown)}; known: {sorted(RULE_KEYS)}")
        self.action = spec.get("action")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        self.operation = spec.get("operation")
        self.service = spec.get("service")
        for key in ("operation", "service", "code", "message"):
            if key in spec and not isinstance(spec[key], str):
                raise ValueError(f"{key} must be a string, got {spec[key]!r}")
        self.every = spec.get("every", 1)
        self.count = spec.get("count")
        self.status = spec.get("status")
        if not _is_int(self.every) or self.every < 1:
            raise ValueError(f"every must be an integer >= 1, got {self.every!r}")
        if self.count is not None and (not _is_int(self.count) or self.count < 0):
            raise ValueError(f"count must be an integer >= 0, got {self.count!r}")
        if self.status is not None and (not _is_int(self.status) or not 100 <= self.status <= 599):
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if self.action == "drop" and ({"code", "status", "message"} & set(spec)):
            raise ValueError("code, status and message apply to throttle and error rules only")
        self.code = spec.get("code")
        self.message = spec.get("message")
        self.spec = spec
        self.seen = 0
        self.fired = 0

    def matches(self, call):
        return (self.operation is None or self.operation == call.operation) and (
            self.service is None or self.service == call.service
        )

    def due(self):
        """Counts one matching call; true when it is this rule's turn to fire."""
        self.seen += 1
        exhausted = self.count is not None and self.fired >= self.count
        return self.seen % self.every == 0 and not exhausted

    def describe(self):
        return dict(self.spec, fired=self.fired)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


class State:
    """The call log and the fault rules, shared by every connection thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []
        self.rules = []

    def fault_for(self, call):
        with self.lock:
            chosen = None
            for rule in self.rules:
                # Every matching rule counts the call, even one answered by an
                # earlier rule, so that "every Nth" means every Nth call.
                if rule.matches(call) and rule.due() and chosen is None:
                    rule.fired += 1
                    chosen = rule
            return chosen

    def record(self, call, status, fault, received_us):
        with self.lock:
            self.calls.append(
                {
                    "service": call.service,
                    "operation": call.operation,
                    "status": status,
                    "injected": fault is not None,
                    "fault": fault,
                    "received_us": received_us,
                }
            )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws_proxy"
    sys_version = ""

    def do_any(self):
        received_us = time.monotonic_ns() // 1000
        body = self.read_body()
        if body is None:
            return
        if self.path.startswith(CONTROL_PREFIX):
            self.control(body)
            return
        call = identify(self.command, self.path, self.headers, body)
        rule = self.server.state.fault_for(call) if call.protocol else None
        # Recorded as the answer starts (see record_answer), so that a client
        # that has its answer always finds the call in /__proxy/calls.
        self.pending = (call, rule.action if rule is not None else None, received_us)
        status = self.inject(rule, call) if rule is not None else self.forward(body)
        self.record_answer(status)

    def record_answer(self, status):
        """Records the pending call with this status, once."""
        pending, self.pending = getattr(self, "pending", None), None
        if pending is not None:
            call, fault, received_us = pending
            self.server.state.record(call, status, fault, received_us)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_any

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    self.close_connection = True
                    return None
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- forwarding -------------------------------------------------------

    def forward(self, body):
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
        except OSError as err:
            conn.close()
            log(f"upstream {upstream.geturl()} failed: {err}")
            self.send_plain(502, f"aws_proxy: upstream failed: {err}\n")
            return 502
        try:
            self.relay(response)
        finally:
            conn.close()
        return response.status

    def relay(self, response):
        """Streams the upstream answer back; re-frames it when it has no length."""
        length = response.getheader("Content-Length")
        payload = None
        if length is None and self.command != "HEAD":
            payload = response.read()  # chunked or close-delimited: collect it
            length = str(len(payload))
        self.log_request(response.status)
        self.record_answer(response.status)
        self.send_response_only(response.status, response.reason)  # moto's own Date and Server follow
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command == "HEAD":
            return
        if payload is not None:
            self.wfile.write(payload)
            return
        while True:
            chunk = response.read(64 * 1024)
            if not chunk:
                break
            self.wfile.write(chunk)

    # --- injected answers ---------------------------------------------------

    def inject(self, rule, call):
        request_id = str(uuid.uuid4())
        if rule.action == "drop":
            return self.send_success(call, request_id)
        defaults = (
            THROTTLE.get(call.service, THROTTLE_DEFAULT[call.protocol])
            if rule.action == "throttle"
            else ERROR_DEFAULT[call.protocol]
        )
        status = rule.status or defaults[0]
        code = rule.code or defaults[1]
        message = rule.message or (THROTTLE_MESSAGE if rule.action == "throttle" else "Injected failure")
        if VERBOSE:
            log(f"inject {code} ({status}) into {call.service}.{call.operation}")
        if call.protocol == "query":
            kind = "Sender" if status < 500 else "Receiver"
            body = (
                f'<ErrorResponse xmlns="{query_namespace(call)}">'
                f"<Error><Type>{kind}</Type><Code>{xml_escape(code)}</Code>"
                f"<Message>{xml_escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            self.send_answer(status, "text/xml", body, request_id)
        else:
            # As real AWS does for throttling: the type carries its namespace
            # in the body and a URL suffix in the header; SDKs strip both.
            body = json.dumps({"__type": f"com.amazon.coral.availability#{code}", "message": message})
            self.send_answer(
                status,
                call.json_type,
                body,
                request_id,
                {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.coral.availability/"},
            )
        return status

    def send_success(self, call, request_id):
        """A minimal success that SDKs parse, for a write that never reaches moto."""
        if VERBOSE:
            log(f"drop {call.service}.{call.operation}")
        if call.protocol == "query":
            # SDKs parse `<OpResult>` as the first child for operations with
            # an output (PutDashboard, CreateTopic) and ignore the body of
            # operations without one (PutMetricAlarm, SetTopicAttributes); an
            # empty result element satisfies both.
            op = call.operation
            body = (
                f'<{op}Response xmlns="{query_namespace(call)}">'
                f"<{op}Result></{op}Result>"
                f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
                f"</{op}Response>"
            )
            self.send_answer(200, "text/xml", body, request_id)
        else:
            self.send_answer(200, call.json_type, "{}", request_id)
        return 200

    def send_answer(self, status, content_type, body, request_id, extra=None):
        self.record_answer(status)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-amzn-RequestId", request_id)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_plain(self, status, text):
        self.send_answer(status, "text/plain; charset=utf-8", text, str(uuid.uuid4()))

    # --- control API --------------------------------------------------------

    def control(self, body):
        state = self.server.state
        route = (self.command, urllib.parse.urlsplit(self.path).path[len(CONTROL_PREFIX) :])
        if route == ("GET", "calls"):
            with state.lock:
                self.send_json(200, list(state.calls))
        elif route == ("POST", "reset"):
            with state.lock:
                state.calls.clear()
            self.send_json(200, {"ok": True})
        elif route == ("GET", "faults"):
            with state.lock:
                self.send_json(200, [rule.describe() for rule in state.rules])
        elif route == ("POST", "faults"):
            try:
                specs = json.loads(body or b"[]")
                if not isinstance(specs, list):
                    raise ValueError("the body must be a JSON list of rules")
                rules = [Rule(spec) for spec in specs]
            except ValueError as err:  # json.JSONDecodeError is a ValueError
                self.send_json(400, {"error": str(err)})
                return
            with state.lock:
                state.rules = rules
            self.send_json(200, [rule.describe() for rule in rules])
        else:
            self.send_json(404, {"error": f"no control route {self.command} {self.path}"})

    def send_json(self, status, value):
        self.send_answer(status, "application/json", json.dumps(value), str(uuid.uuid4()))

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if VERBOSE:
            log(f"{self.address_string()} {format % args}")


def query_namespace(call):
    version = call.query_version or "2010-08-01"
    return f"http://{call.service or 'monitoring'}.amazonaws.com/doc/{version}/"


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, upstream):
        super().__init__(address, Handler)
        self.upstream = upstream
        self.state = State()

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return  # the client went away mid-answer; nothing to report
        super().handle_error(request, client_address)


def main():
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upstream", required=True, help="the emulator, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()
    VERBOSE = args.verbose

    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname or not upstream.port:
        parser.error(f"--upstream must be http://HOST:PORT, got {args.upstream!r}")

    server = Server(("127.0.0.1", args.port), upstream)
    print(server.server_address[1], flush=True)

    def stop_on_eof():
        sys.stdin.buffer.read()  # returns when stdin closes
        server.shutdown()

    def stop_on_signal(signum, frame):
        # serve_forever runs in this (main) thread: shutdown() must come from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    threading.Thread(target=stop_on_eof, daemon=True).start()
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.stderr.flush()
    # The stdin watcher may still be blocked in read(); a normal interpreter
    # exit would then abort on the stdin lock, so leave without finalizing.
    os._exit(0)


if __name__ == "__main__":
    main()
