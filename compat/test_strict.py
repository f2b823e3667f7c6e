#!/usr/bin/env python3
"""Strict-mode compatibility suite for cloudhsm-local: boto3 and the AWS CLI sign real SigV4 requests.

    python3 compat/test_strict.py --write-credentials FILE     # the credentials file this suite expects
    python3 compat/test_strict.py --endpoint URL [--bin path/to/cloudhsm-local] [-v]

The server must run with ``--auth sigv4 --credentials FILE`` (FILE written by --write-credentials)
and the admin token in CLOUDHSM_LOCAL_ADMIN_TOKEN, which this suite reads too. compat/run.sh starts
such a second server. Valid credentials must work; each bad-credential case (no auth, unknown key,
wrong secret, tampered body, tampered header, replay outside the 15-minute window, expired
session token) must fail with the error of BEHAVIOUR.md section 1 and HTTP 400, with boto3 and with
the AWS CLI. The CLI's requests are tampered with by a small proxy in this process; its replay is
the AWS CLI v1 run in a Python whose botocore clock is 20 minutes slow. The last line printed is
``strict suite: N passed, M failed`` (compat/run.sh reads it). Skipped tests count as failures.
"""

import argparse
import contextlib
import datetime
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

try:
    import boto3
    import botocore
    import botocore.auth
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as exc:  # pragma: no cover - run.sh checks this first
    sys.stderr.write("FATAL: boto3/botocore cannot be imported (%s).\n" % exc)
    sys.exit(2)

ENDPOINT = os.environ.get("CLOUDHSM_LOCAL_ENDPOINT", "http://127.0.0.1:4580")
SERVER_BIN = os.environ.get("CLOUDHSM_LOCAL_BIN", "")
ADMIN_TOKEN = os.environ.get("CLOUDHSM_LOCAL_ADMIN_TOKEN", "")
REGION = "us-east-1"
CALL_TIMEOUT = 60
SERVICE_ERROR_EXIT_CODES = (254, 255)  # v2 uses 254 for service errors; v1 uses 255

# The credentials of the strict server (written by --write-credentials).
OWNER = {"access_key_id": "AKIDCOMPATOWNER00001", "secret_access_key": "compat-owner-secret/+=K7MDENG",
         "account_id": "111122223333"}
SESSION = {"access_key_id": "ASIACOMPATSESSION001", "secret_access_key": "compat-session-secret",
           "session_token": "compat-session-token-FwoGZXIvYXdz", "session_expires": "2099-01-01T00:00:00Z",
           "account_id": "111122223333"}
EXPIRED = {"access_key_id": "ASIACOMPATEXPIRED001", "secret_access_key": "compat-expired-secret",
           "session_token": "compat-expired-token-IQoJb3JpZ2lu", "session_expires": "2020-01-01T00:00:00Z",
           "account_id": "111122223333"}
READONLY = {"access_key_id": "AKIDCOMPATREADONLY01", "secret_access_key": "compat-readonly-secret",
            "account_id": "111122223333",
            "policy": {"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "cloudhsm:Describe*", "Resource": "*"}]}}
CREDENTIALS = [OWNER, SESSION, EXPIRED, READONLY]
UNKNOWN = {"access_key_id": "AKIDCOMPATUNKNOWN001", "secret_access_key": OWNER["secret_access_key"]}
WRONG_SECRET = {"access_key_id": OWNER["access_key_id"], "secret_access_key": "not-the-owner-secret"}

SKEW = datetime.timedelta(minutes=20)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def client(cred, endpoint=None, unsigned=False):
    """A boto3 client signing with cred (or not at all); no retries, so each call is one request."""
    cfg = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 1, "mode": "standard"})
    if unsigned:
        cfg = cfg.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.client(
        "cloudhsmv2", endpoint_url=endpoint or ENDPOINT, region_name=REGION,
        aws_access_key_id=cred["access_key_id"], aws_secret_access_key=cred["secret_access_key"],
        aws_session_token=cred.get("session_token"), config=cfg,
    )


@contextlib.contextmanager
def clock_off_by(delta):
    """Makes botocore sign as if its clock were off by delta (it reads the time through
    botocore.auth.get_current_datetime)."""
    real = botocore.auth.get_current_datetime

    def skewed(*args, **kwargs):
        return real(*args, **kwargs) + delta

    botocore.auth.get_current_datetime = skewed
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = real


def tamper_after_signing(c, change):
    """Registers a before-send hook (botocore emits it after signing) that changes the request."""
    def hook(request=None, **_):
        change(request)
    c.meta.events.register("before-send.cloudhsm-v2", hook)
    return c


def tamper_body(request):
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    new = re.sub(rb'("MaxResults":\s*)5', rb"\g<1>6", body, count=1)
    assert new != body and len(new) == len(body), body
    request.body = new


def tamper_target(request):
    target = request.headers["X-Amz-Target"]
    target = target.decode() if isinstance(target, bytes) else target
    assert target.endswith(".DescribeClusters"), target
    request.headers["X-Amz-Target"] = "BaldrApiService.DescribeBackups"


def admin(method, path, token=None, body=None):
    """Calls the admin API; returns (HTTP status, decoded JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ENDPOINT + "/_cloudhsm-local/" + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def clean_env(cred=None, **extra):
    """An environment for one AWS CLI process: only cred's keys, no profile or config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("CLOUDHSM_LOCAL_")}
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": "",
                "AWS_DEFAULT_OUTPUT": "json", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    if cred:
        env["AWS_ACCESS_KEY_ID"] = cred["access_key_id"]
        env["AWS_SECRET_ACCESS_KEY"] = cred["secret_access_key"]
        if cred.get("session_token"):
            env["AWS_SESSION_TOKEN"] = cred["session_token"]
    env.update(extra)
    return env


def run(argv, env):
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=CALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("timed out after %ss: %s" % (CALL_TIMEOUT, " ".join(argv)))


# The AWS CLI v1 in this Python, with botocore's clock 20 minutes slow: the real CLI code, signing
# a request that is replayed outside the window.
SLOW_CLOCK_CLI = """
import datetime, sys
import botocore.auth
real = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=20)
from awscli.clidriver import main
sys.exit(main())
"""


class TamperProxy:
    """A man in the middle for the AWS CLI: forwards each request to the server unchanged (same
    Host header, so an untouched signature still verifies) after change(headers, body), a
    function returning the new (headers, body)."""

    def __init__(self, target, change):
        self.target = urllib.parse.urlsplit(target)
        self.change = change
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = [(k, v) for k, v in self.headers.items()]
                headers, body = proxy.change(headers, body)
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    if k.lower() != "content-length":
                        conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def proxy_body(headers, body):
    new = re.sub(rb'("MaxResults":\s*)5', rb"\g<1>6", body, count=1)
    assert new != body, body
    return headers, new


def proxy_target(headers, body):
    return [(k, "BaldrApiService.DescribeBackups" if k.lower() == "x-amz-target" else v) for k, v in headers], body


def proxy_nothing(headers, body):
    return headers, body


def cli_is_v1_in_this_python(aws):
    """Whether `aws` is AWS CLI v1 and this Python can run it (for the slow-clock replay)."""
    res = run([aws, "--version"], clean_env())
    if "aws-cli/1." not in (res.stdout + res.stderr):
        return False
    return run([sys.executable, "-c", "import awscli.clidriver"], clean_env()).returncode == 0


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

class S01Boto3(unittest.TestCase):
    """boto3 signs real requests: valid credentials work, each bad one gets its error."""

    @classmethod
    def setUpClass(cls):
        status, body = admin("POST", "reset", ADMIN_TOKEN)
        if status != 200:
            raise AssertionError("reset with the admin token: HTTP %s %s" % (status, body))

    def describe(self, c):
        return c.describe_clusters(MaxResults=5)

    def assert_error(self, fn, code, fragment=""):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response["Error"]
        self.assertEqual(err["Code"], code, cm.exception)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertIn(fragment, err.get("Message", ""))
        for cred in CREDENTIALS:
            for secret in (cred["secret_access_key"], cred.get("session_token")):
                if secret:
                    self.assertNotIn(secret, str(cm.exception))

    def test_01_valid_long_term_credential(self):
        self.assertEqual(self.describe(client(OWNER))["Clusters"], [])

    def test_02_valid_session_credential(self):
        self.assertEqual(self.describe(client(SESSION))["Clusters"], [])

    def test_03_create_cluster_with_valid_credentials(self):
        out = client(OWNER).create_cluster(HsmType="hsm2m.medium", SubnetIds=["subnet-0a1b2c3d4e5f60001"])
        self.assertRegex(out["Cluster"]["ClusterId"], r"^cluster-[a-z2-7]{11}$")
        self.assertEqual(len(self.describe(client(SESSION))["Clusters"]), 1)

    def test_04_policy_allows_describe(self):
        self.assertEqual(len(self.describe(client(READONLY))["Clusters"]), 1)

    def test_05_policy_denies_the_rest(self):
        self.assert_error(lambda: client(READONLY).create_cluster(HsmType="hsm2m.medium", SubnetIds=["subnet-0a1b2c3d4e5f60002"]),
                          "CloudHsmAccessDeniedException", "cloudhsm:CreateCluster")

    def test_06_signed_14_minutes_ago_is_inside_the_window(self):
        with clock_off_by(-datetime.timedelta(minutes=14)):
            self.describe(client(OWNER))

    def test_10_no_auth(self):
        self.assert_error(lambda: self.describe(client(OWNER, unsigned=True)),
                          "MissingAuthenticationTokenException", "Missing Authentication Token")

    def test_11_unknown_key(self):
        self.assert_error(lambda: self.describe(client(UNKNOWN)), "UnrecognizedClientException",
                          "The security token included in the request is invalid.")

    def test_12_wrong_secret(self):
        self.assert_error(lambda: self.describe(client(WRONG_SECRET)), "InvalidSignatureException",
                          "The request signature we calculated does not match")

    def test_13_tampered_body(self):
        c = tamper_after_signing(client(OWNER), tamper_body)
        self.assert_error(lambda: self.describe(c), "InvalidSignatureException", "does not match")

    def test_14_tampered_header(self):
        c = tamper_after_signing(client(OWNER), tamper_target)
        self.assert_error(lambda: self.describe(c), "InvalidSignatureException", "does not match")

    def test_15_replay_outside_the_window(self):
        c = client(OWNER)
        with clock_off_by(-SKEW):
            self.assert_error(lambda: self.describe(c), "InvalidSignatureException", "Signature expired")

    def test_16_expired_session_token(self):
        self.assert_error(lambda: self.describe(client(EXPIRED)), "ExpiredTokenException",
                          "The security token included in the request is expired")

    def test_17_session_credential_without_its_token(self):
        no_token = {k: v for k, v in SESSION.items() if k != "session_token"}
        self.assert_error(lambda: self.describe(client(no_token)), "UnrecognizedClientException")


class S02CLI(unittest.TestCase):
    """The AWS CLI signs real requests: valid credentials work, each bad one gets its error."""

    AWS = shutil.which("aws")

    def aws(self, cred, *args, endpoint=None, argv0=None, expect_rc=0, code=None, fragment=""):
        argv = (argv0 or [self.AWS]) + ["--endpoint-url", endpoint or ENDPOINT, "--region", REGION,
                                        "--output", "json", "cloudhsmv2"] + list(args)
        res = run(argv, clean_env(cred))
        if code is None:
            self.assertEqual(res.returncode, expect_rc, "%s\nstdout: %s\nstderr: %s" % (" ".join(argv), res.stdout, res.stderr))
            return json.loads(res.stdout) if res.stdout.strip() else None
        self.assertIn(res.returncode, SERVICE_ERROR_EXIT_CODES, "%s: %s %s" % (args, res.stdout, res.stderr))
        self.assertEqual(res.stdout.strip(), "")
        self.assertIn("(%s)" % code, res.stderr)
        self.assertIn(fragment, res.stderr)
        for cred_ in CREDENTIALS:
            for secret in (cred_["secret_access_key"], cred_.get("session_token")):
                if secret:
                    self.assertNotIn(secret, res.stderr)
        return None

    def setUp(self):
        if not self.AWS:
            self.fail("the AWS CLI ('aws') is not on PATH")

    def test_01_valid_long_term_credential(self):
        self.assertIn("Clusters", self.aws(OWNER, "describe-clusters", "--max-results", "5"))

    def test_02_valid_session_credential(self):
        self.assertIn("Clusters", self.aws(SESSION, "describe-clusters", "--max-results", "5"))

    def test_03_untampered_through_the_proxy(self):
        with TamperProxy(ENDPOINT, proxy_nothing) as p:
            self.assertIn("Clusters", self.aws(OWNER, "describe-clusters", "--max-results", "5", endpoint=p.url))

    def test_04_policy_denies(self):
        self.aws(READONLY, "create-cluster", "--hsm-type", "hsm2m.medium", "--subnet-ids", "subnet-0a1b2c3d4e5f60001",
                 code="CloudHsmAccessDeniedException")

    def test_10_no_auth(self):
        self.aws(None, "describe-clusters", "--no-sign-request", code="MissingAuthenticationTokenException")

    def test_11_unknown_key(self):
        self.aws(UNKNOWN, "describe-clusters", code="UnrecognizedClientException")

    def test_12_wrong_secret(self):
        self.aws(WRONG_SECRET, "describe-clusters", code="InvalidSignatureException")

    def test_13_tampered_body(self):
        with TamperProxy(ENDPOINT, proxy_body) as p:
            self.aws(OWNER, "describe-clusters", "--max-results", "5", endpoint=p.url, code="InvalidSignatureException")

    def test_14_tampered_header(self):
        with TamperProxy(ENDPOINT, proxy_target) as p:
            self.aws(OWNER, "describe-clusters", "--max-results", "5", endpoint=p.url, code="InvalidSignatureException")

    def test_15_replay_outside_the_window(self):
        if cli_is_v1_in_this_python(self.AWS):
            argv0 = [sys.executable, "-c", SLOW_CLOCK_CLI]
        elif shutil.which("faketime"):
            argv0 = ["faketime", "-f", "-20m", self.AWS]
        else:
            self.fail("cannot run the AWS CLI with a slow clock: it is not CLI v1 in %s and faketime is missing" % sys.executable)
        self.aws(OWNER, "describe-clusters", argv0=argv0, code="InvalidSignatureException", fragment="Signature expired")

    def test_16_expired_session_token(self):
        self.aws(EXPIRED, "describe-clusters", code="ExpiredTokenException")


class S03AdminToken(unittest.TestCase):
    """The admin API of a strict server needs the bearer token; without it, 401 and nothing changes."""

    def test_01_without_or_with_a_wrong_token(self):
        _, out = admin("GET", "clock", ADMIN_TOKEN)
        before = parse_time(out["now"])
        for token in (None, "wrong-admin-token"):
            for method, path, body in (("GET", "health", None), ("POST", "clock", {"advance": "240h"}), ("POST", "reset", None)):
                status, out = admin(method, path, token, body)
                self.assertEqual(status, 401, (method, path, out))
                self.assertIn("admin token", out["error"])
                self.assertNotIn(ADMIN_TOKEN, json.dumps(out))
        _, out = admin("GET", "clock", ADMIN_TOKEN)
        moved = parse_time(out["now"]) - before  # the virtual clock runs on real time
        self.assertLess(moved, datetime.timedelta(hours=1), "a refused clock advance moved the clock")

    def test_02_with_the_token(self):
        status, out = admin("GET", "health", ADMIN_TOKEN)
        self.assertEqual((status, out["status"]), (200, "ok"))
        text = json.dumps(out)
        for cred in CREDENTIALS:
            self.assertNotIn(cred["secret_access_key"], text)
        self.assertNotIn(ADMIN_TOKEN, text)

    def test_03_subcommand_sends_the_token(self):
        if not SERVER_BIN:
            self.fail("--bin (the cloudhsm-local binary) is needed for the admin subcommands")
        res = run([SERVER_BIN, "health", "--endpoint", ENDPOINT], clean_env())
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("HTTP 401", res.stderr)
        res = run([SERVER_BIN, "health", "--endpoint", ENDPOINT], clean_env(CLOUDHSM_LOCAL_ADMIN_TOKEN=ADMIN_TOKEN))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(json.loads(res.stdout)["status"], "ok")


class CountingResult(unittest.TextTestResult):
    """Counts passing tests; errors in setUpClass count as failures without hiding passes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    global ENDPOINT, SERVER_BIN, ADMIN_TOKEN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", default=ENDPOINT)
    ap.add_argument("--bin", default=SERVER_BIN, help="cloudhsm-local binary, for its admin subcommands")
    ap.add_argument("--write-credentials", metavar="FILE", help="write the credentials file this suite expects, and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="pattern", action="append", help="only tests whose id contains this (repeatable)")
    args = ap.parse_args()
    if args.write_credentials:
        with open(args.write_credentials, "w") as f:
            json.dump(CREDENTIALS, f, indent=2)
        os.chmod(args.write_credentials, 0o600)
        return 0
    ENDPOINT, SERVER_BIN = args.endpoint.rstrip("/"), args.bin
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(var, None)
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    if not ADMIN_TOKEN:
        print("FATAL: CLOUDHSM_LOCAL_ADMIN_TOKEN is not set; it must be the strict server's admin token.")
        print("strict suite: 0 passed, 1 failed")
        return 1

    print("boto3 %s, botocore %s, python %s, aws %s, endpoint %s" % (
        boto3.__version__, botocore.__version__, sys.version.split()[0], shutil.which("aws"), ENDPOINT))
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = ["*%s*" % p for p in args.pattern]
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout,
                                     resultclass=CountingResult).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped)
    if result.skipped:
        print("skipped tests count as failures: %s" % [str(t) for t, _ in result.skipped])
    print("strict suite took %.1fs" % (time.monotonic() - start))
    print("strict suite: %d passed, %d failed" % (result.passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
