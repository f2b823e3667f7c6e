#!/usr/bin/env python3
"""boto3 compatibility suite for cloudhsm-local.

Self-contained: standard library ``unittest`` plus boto3/botocore (and the ``cryptography``
package if it is importable; otherwise ``openssl`` subprocesses sign the cluster CSR).

    python3 compat/test_boto3.py --endpoint http://127.0.0.1:4580 [-v] [-k PATTERN]

The endpoint may also come from CLOUDHSM_LOCAL_ENDPOINT. The last line printed is
``boto3 suite: N passed, M failed`` (compat/run.sh reads it). Every test class starts from an
empty store (POST /_cloudhsm-local/reset, which also resets the virtual clock), so classes are
independent; the steps inside the ordered classes (test_01_…, test_02_…) build on each other.

Assertions follow spec/BEHAVIOUR.md and spec/API.md. Where botocore would hide a wire detail
(unknown or null members are dropped while parsing), the raw response body is checked too.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import ClientError, ParamValidationError
except ImportError as exc:  # pragma: no cover - run.sh checks this first
    sys.stderr.write(
        "FATAL: boto3/botocore cannot be imported (%s).\n"
        "The compatibility suite needs boto3 for the python3 on PATH; it is not skipped.\n" % exc
    )
    sys.exit(2)

try:  # optional: signing the CSR in-process; openssl is the fallback
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    HAVE_CRYPTOGRAPHY = True
except ImportError:
    HAVE_CRYPTOGRAPHY = False

ENDPOINT = os.environ.get("CLOUDHSM_LOCAL_ENDPOINT", "http://127.0.0.1:4580")
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "111122223333"
SHARE_ACCOUNT = "444455556666"
STRANGER_ACCOUNT = "777788889999"
HSM_TYPE = "hsm2m.medium"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
PENDING_DELETION = datetime.timedelta(days=7)
WAIT_SECONDS = 10.0

ID_RE = {
    "cluster": re.compile(r"^cluster-[a-z2-7]{11}$"),
    "backup": re.compile(r"^backup-[a-z2-7]{11}$"),
    "hsm": re.compile(r"^hsm-[a-z2-7]{11}$"),
    "eni": re.compile(r"^eni-[0-9a-f]{17}$"),
    "sg": re.compile(r"^sg-[0-9a-f]{17}$"),
}
IPV4_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The full backup as RestoreBackup returns it for a backup of a live cluster (BEHAVIOUR.md §4).
RESTORED_BACKUP_KEYS = {
    "BackupId", "BackupArn", "BackupState", "ClusterId", "CreateTimestamp",
    "HsmType", "Mode", "NeverExpires", "TagList",
}
DESTINATION_BACKUP_KEYS = {"CreateTimestamp", "SourceRegion", "SourceBackup", "SourceCluster"}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def client(account=ACCOUNT, region=REGION):
    """The client of the brief; the Config only bounds waiting on a hung server."""
    return boto3.client(
        "cloudhsmv2",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="x",
        config=Config(connect_timeout=5, read_timeout=30),
    )


class RawBodies:
    """Keeps the raw HTTP status and JSON body of each operation a client calls."""

    def __init__(self, c):
        self.last = {}
        c.meta.events.register("after-call", self._hook)

    def _hook(self, http_response=None, model=None, **_):
        if http_response is None or model is None:
            return
        body = http_response.content or b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = ("<not JSON>", body)
        headers = {k.lower(): v for k, v in http_response.headers.items()}
        self.last[model.name] = (http_response.status_code, headers, parsed)

    def body(self, operation):
        return self.last[operation][2]


def admin(method, path, body=None, expect=200):
    """Calls the admin API; returns (status, decoded JSON)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ENDPOINT + "/_cloudhsm-local/" + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    decoded = json.loads(raw) if raw.strip() else None
    if expect is not None and status != expect:
        raise AssertionError("admin %s %s: HTTP %s, want %s: %s" % (method, path, status, expect, raw[:500]))
    return status, decoded


def reset():
    admin("POST", "reset")


def server_now():
    _, body = admin("GET", "clock")
    return parse_rfc3339(body["now"])


def advance_clock(duration):
    _, body = admin("POST", "clock", {"advance": duration})
    return parse_rfc3339(body["now"])


def parse_rfc3339(s):
    s = s.replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)$", s)
    if m and m.group(2):  # fromisoformat in 3.10 and older wants 3 or 6 fractional digits
        s = m.group(1) + (m.group(2) + "000000")[:7] + m.group(3)
    return datetime.datetime.fromisoformat(s)


def wait_for(what, fn, timeout=WAIT_SECONDS):
    """Polls fn until it returns something truthy; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.1)


def describe_cluster(c, cluster_id):
    clusters = c.describe_clusters(Filters={"clusterIds": [cluster_id]})["Clusters"]
    if len(clusters) != 1:
        raise AssertionError("describe_clusters(clusterIds=[%s]) returned %d clusters" % (cluster_id, len(clusters)))
    return clusters[0]


def wait_cluster_state(c, cluster_id, state):
    return wait_for(
        "cluster %s to be %s" % (cluster_id, state),
        lambda: (lambda cl: cl if cl["State"] == state else None)(describe_cluster(c, cluster_id)),
    )


def describe_backup(c, backup_id):
    backups = c.describe_backups(Filters={"backupIds": [backup_id]})["Backups"]
    if len(backups) != 1:
        raise AssertionError("describe_backups(backupIds=[%s]) returned %d backups" % (backup_id, len(backups)))
    return backups[0]


def wait_backup_state(c, backup_id, state):
    return wait_for(
        "backup %s to be %s" % (backup_id, state),
        lambda: (lambda b: b if b["BackupState"] == state else None)(describe_backup(c, backup_id)),
    )


def cluster_backups(c, cluster_id):
    return c.describe_backups(Filters={"clusterIds": [cluster_id]})["Backups"]


class CustomerCA:
    """The customer's CA that signs the cluster CSR, as in the AWS user guide.

    With ``use_openssl`` (or without the cryptography package) it runs exactly the guide's
    openssl commands; otherwise it signs in-process with cryptography.
    """

    def __init__(self, use_openssl=None):
        if use_openssl is None:
            use_openssl = os.environ.get("COMPAT_SIGNER") == "openssl" or not HAVE_CRYPTOGRAPHY
        self.use_openssl = use_openssl
        self.dir = tempfile.mkdtemp(prefix="chl-ca-")
        if use_openssl:
            self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "customerCA.key",
                          "-out", "customerCA.crt", "-days", "3652", "-subj", "/CN=compat customer CA")
            with open(os.path.join(self.dir, "customerCA.crt")) as f:
                self.trust_anchor = f.read()
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "compat customer CA")])
            now = datetime.datetime.now(datetime.timezone.utc)
            self.cert = (
                cx509.CertificateBuilder()
                .subject_name(name).issuer_name(name)
                .public_key(self.key.public_key())
                .serial_number(cx509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3652))
                .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256())
            )
            self.trust_anchor = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def _openssl(self, *args):
        res = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise AssertionError("openssl %s failed (%d): %s" % (" ".join(args), res.returncode, res.stderr))
        return res.stdout

    def sign(self, csr_pem):
        if self.use_openssl:
            with open(os.path.join(self.dir, "ClusterCsr.csr"), "w") as f:
                f.write(csr_pem)
            self._openssl("req", "-in", "ClusterCsr.csr", "-noout", "-verify")
            self._openssl("x509", "-req", "-days", "3652", "-in", "ClusterCsr.csr", "-CA", "customerCA.crt",
                          "-CAkey", "customerCA.key", "-CAcreateserial", "-out", "CustomerHsmCertificate.crt")
            with open(os.path.join(self.dir, "CustomerHsmCertificate.crt")) as f:
                return f.read()
        csr = cx509.load_pem_x509_csr(csr_pem.encode())
        if not csr.is_signature_valid:
            raise AssertionError("ClusterCsr has an invalid self-signature")
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            cx509.CertificateBuilder()
            .subject_name(csr.subject).issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(cx509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3652))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def create_cluster(c, **kw):
    kw.setdefault("HsmType", HSM_TYPE)
    kw.setdefault("SubnetIds", SUBNETS)
    return c.create_cluster(**kw)["Cluster"]


def make_active_cluster(c, ca=None):
    """Create → HSM → sign CSR → initialize → activate; returns (cluster, first backup)."""
    own_ca = ca is None
    ca = ca or CustomerCA()
    try:
        cl = create_cluster(c)
        cid = cl["ClusterId"]
        c.create_hsm(ClusterId=cid, AvailabilityZone=sorted(cl["SubnetMapping"])[0])
        cl = wait_for("ClusterCsr of %s" % cid,
                      lambda: (lambda x: x if x.get("Certificates", {}).get("ClusterCsr") else None)(describe_cluster(c, cid)))
        c.initialize_cluster(ClusterId=cid, SignedCert=ca.sign(cl["Certificates"]["ClusterCsr"]), TrustAnchor=ca.trust_anchor)
        wait_cluster_state(c, cid, "INITIALIZED")
        admin("POST", "clusters/%s/activate" % cid)
        cl = wait_cluster_state(c, cid, "ACTIVE")
        backups = cluster_backups(c, cid)
        if len(backups) != 1:
            raise AssertionError("activation of %s made %d backups, want 1" % (cid, len(backups)))
        return cl, wait_backup_state(c, backups[0]["BackupId"], "READY")
    finally:
        if own_ca:
            ca.close()


def share_policy(backup_arn, account, actions=("cloudhsm:CreateCluster", "cloudhsm:DescribeBackups")):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "share",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::%s:root" % account]},
            "Action": list(actions),
            "Resource": backup_arn,
        }],
    })


class CompatTestCase(unittest.TestCase):
    """Starts every test class on an empty store."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        reset()

    def assertClientError(self, code, fn, *args, status=400, message_contains=(), **kwargs):
        """Calls fn and checks it raises ClientError `code` with HTTP `status`; returns the error."""
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.response["Error"]["Code"], code, "error: %s" % e.response.get("Error"))
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], status)
        message = e.response["Error"].get("Message", "")
        self.assertTrue(message, "error %s has an empty message" % code)
        if isinstance(message_contains, str):
            message_contains = (message_contains,)
        for part in message_contains:
            self.assertIn(part, message)
        return e

    def assertTimestamp(self, value, what):
        self.assertIsInstance(value, datetime.datetime, "%s should be parsed into a datetime" % what)
        self.assertIsNotNone(value.tzinfo, "%s should be timezone-aware" % what)

    def assertAbout(self, got, want, what, slack=datetime.timedelta(seconds=2)):
        self.assertLessEqual(abs(got - want), slack, "%s = %s, want about %s" % (what, got, want))

    def assertRawNumber(self, value, what):
        self.assertTrue(isinstance(value, (int, float)) and not isinstance(value, bool),
                        "%s must be a JSON number of epoch seconds on the wire, got %r" % (what, value))


# --------------------------------------------------------------------------------------------
# the lifecycle, step by step
# --------------------------------------------------------------------------------------------

class T01ClusterAndBackupLifecycle(CompatTestCase):
    """create → HSM → CSR → initialize → activate → backup → delete → restore → expiry."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.ca = CustomerCA()
        cls.state = {}

    @classmethod
    def tearDownClass(cls):
        cls.ca.close()

    def need(self, *keys):
        missing = [k for k in keys if k not in self.state]
        if missing:
            self.fail("an earlier step failed: no %s" % ", ".join(missing))
        return [self.state[k] for k in keys]

    def test_01_describe_backups_empty(self):
        resp = self.c.describe_backups()
        self.assertEqual(resp["Backups"], [])
        self.assertNotIn("NextToken", resp)
        self.assertEqual(self.c.describe_clusters()["Clusters"], [])

    def test_02_create_cluster(self):
        cl = create_cluster(self.c)
        self.state["cluster_id"] = cid = cl["ClusterId"]
        self.assertRegex(cid, ID_RE["cluster"])
        self.assertEqual(cl["State"], "CREATE_IN_PROGRESS")
        self.assertEqual(cl["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "90"})
        self.assertIsInstance(cl["BackupRetentionPolicy"]["Value"], str)
        self.assertEqual(cl["BackupPolicy"], "DEFAULT")
        self.assertEqual(cl["HsmType"], HSM_TYPE)
        self.assertEqual(cl["Mode"], "FIPS")
        self.assertEqual(cl["NetworkType"], "IPV4")
        self.assertRegex(cl["SecurityGroup"], ID_RE["sg"])
        self.assertTrue(cl["VpcId"].startswith("vpc-"), cl["VpcId"])
        self.assertTimestamp(cl["CreateTimestamp"], "Cluster.CreateTimestamp")
        # SubnetMapping: availability zone → subnet, one distinct zone of the region per subnet.
        mapping = cl["SubnetMapping"]
        self.assertEqual(sorted(mapping.values()), sorted(SUBNETS))
        self.assertEqual(len(set(mapping)), 2)
        for az in mapping:
            self.assertRegex(az, r"^%s[a-z]$" % REGION)
        raw = self.raw.body("CreateCluster")["Cluster"]
        self.assertEqual(raw["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "90"}, "Value must be the string \"90\" on the wire")
        self.assertRawNumber(raw["CreateTimestamp"], "Cluster.CreateTimestamp")
        self.state["subnet_mapping"] = mapping
        self.assertEqual(wait_cluster_state(self.c, cid, "UNINITIALIZED")["ClusterId"], cid)

    def test_03_create_hsm(self):
        cid, mapping = self.need("cluster_id", "subnet_mapping")
        az = sorted(mapping)[0]
        hsm = self.c.create_hsm(ClusterId=cid, AvailabilityZone=az)["Hsm"]
        self.assertRegex(hsm["HsmId"], ID_RE["hsm"])
        self.assertEqual(hsm["ClusterId"], cid)
        self.assertEqual(hsm["State"], "CREATE_IN_PROGRESS")
        self.assertEqual(hsm["AvailabilityZone"], az)
        self.assertEqual(hsm["SubnetId"], mapping[az])
        self.assertEqual(hsm["HsmType"], HSM_TYPE)
        self.assertRegex(hsm["EniId"], ID_RE["eni"])
        self.assertRegex(hsm["EniIp"], IPV4_RE)
        self.state["hsm_id"] = hsm["HsmId"]

    def test_04_csr_appears(self):
        cid, hsm_id = self.need("cluster_id", "hsm_id")
        cl = wait_for("ClusterCsr", lambda: (lambda x: x if x.get("Certificates", {}).get("ClusterCsr") else None)(describe_cluster(self.c, cid)))
        self.assertEqual(cl["State"], "UNINITIALIZED")
        self.assertEqual([(h["HsmId"], h["State"]) for h in cl["Hsms"]], [(hsm_id, "ACTIVE")])
        certs = cl["Certificates"]
        self.assertIn("-----BEGIN CERTIFICATE REQUEST-----", certs["ClusterCsr"])
        for name in ("HsmCertificate", "AwsHardwareCertificate", "ManufacturerHardwareCertificate"):
            self.assertIn("-----BEGIN CERTIFICATE-----", certs.get(name, ""), name)
        self.state["csr"] = certs["ClusterCsr"]

    def test_05_initialize_rejects_wrong_trust_anchor(self):
        cid, csr = self.need("cluster_id", "csr")
        other = CustomerCA()
        try:
            self.assertClientError("CloudHsmInvalidRequestException", self.c.initialize_cluster,
                                   ClusterId=cid, SignedCert=self.ca.sign(csr), TrustAnchor=other.trust_anchor)
        finally:
            other.close()
        self.assertEqual(describe_cluster(self.c, cid)["State"], "UNINITIALIZED")

    def test_06_initialize_cluster(self):
        cid, csr = self.need("cluster_id", "csr")
        signed = self.ca.sign(csr)
        resp = self.c.initialize_cluster(ClusterId=cid, SignedCert=signed, TrustAnchor=self.ca.trust_anchor)
        self.assertEqual(resp["State"], "INITIALIZE_IN_PROGRESS")
        cl = wait_cluster_state(self.c, cid, "INITIALIZED")
        self.assertEqual(cl["Certificates"]["ClusterCertificate"].strip(), signed.strip())
        self.assertEqual(cluster_backups(self.c, cid), [], "no backup before activation")
        self.state["initialized"] = True

    def test_07_activate_takes_a_backup(self):
        cid, _ = self.need("cluster_id", "initialized")
        status, body = admin("POST", "clusters/%s/activate" % cid)
        self.assertEqual(body["Cluster"]["State"], "ACTIVE")
        self.assertEqual(wait_cluster_state(self.c, cid, "ACTIVE")["ClusterId"], cid)
        backups = self.c.describe_backups()["Backups"]
        self.assertEqual(len(backups), 1, backups)
        b = wait_backup_state(self.c, backups[0]["BackupId"], "READY")
        self.assertRegex(b["BackupId"], ID_RE["backup"])
        self.assertEqual(b["BackupArn"], "arn:aws:cloudhsm:%s:%s:backup/%s" % (REGION, ACCOUNT, b["BackupId"]))
        self.assertEqual(b["ClusterId"], cid)
        self.assertEqual(b["HsmType"], HSM_TYPE)
        self.assertEqual(b["Mode"], "FIPS")
        self.assertIs(b["NeverExpires"], False)
        self.assertEqual(b["TagList"], [])
        self.assertNotIn("DeleteTimestamp", b)
        self.assertTimestamp(b["CreateTimestamp"], "Backup.CreateTimestamp")
        self.assertAbout(b["CreateTimestamp"], server_now(), "CreateTimestamp", datetime.timedelta(seconds=30))
        self.assertRawNumber(self.raw.body("DescribeBackups")["Backups"][0]["CreateTimestamp"], "Backup.CreateTimestamp")
        self.state["backup"] = b

    def test_08_activate_twice_is_a_conflict(self):
        cid, _ = self.need("cluster_id", "backup")
        status, body = admin("POST", "clusters/%s/activate" % cid, expect=None)
        self.assertEqual(status, 409, body)
        self.assertEqual(len(cluster_backups(self.c, cid)), 1)

    def test_09_delete_backup(self):
        (b,) = self.need("backup")
        before = server_now()
        resp = self.c.delete_backup(BackupId=b["BackupId"])["Backup"]
        after = server_now()
        self.assertEqual(resp["BackupId"], b["BackupId"])
        self.assertEqual(resp["BackupState"], "PENDING_DELETION")
        self.assertTimestamp(resp["DeleteTimestamp"], "DeleteTimestamp")
        self.assertGreaterEqual(resp["DeleteTimestamp"], before + PENDING_DELETION - datetime.timedelta(seconds=1))
        self.assertLessEqual(resp["DeleteTimestamp"], after + PENDING_DELETION + datetime.timedelta(seconds=1))
        self.assertEqual(resp["CreateTimestamp"], b["CreateTimestamp"])
        self.assertRawNumber(self.raw.body("DeleteBackup")["Backup"]["DeleteTimestamp"], "DeleteTimestamp")
        listed = describe_backup(self.c, b["BackupId"])
        self.assertEqual(listed["BackupState"], "PENDING_DELETION")
        self.assertEqual(listed["DeleteTimestamp"], resp["DeleteTimestamp"])
        self.assertEqual([x["BackupId"] for x in self.c.describe_backups(Filters={"states": ["PENDING_DELETION"]})["Backups"]],
                         [b["BackupId"]])
        self.state["deleted"] = True

    def test_10_delete_pending_backup_again_is_invalid(self):
        b, _ = self.need("backup", "deleted")
        self.assertClientError("CloudHsmInvalidRequestException", self.c.delete_backup, BackupId=b["BackupId"],
                               message_contains="PENDING_DELETION")

    def test_11_restore_backup(self):
        b, _ = self.need("backup", "deleted")
        resp = self.c.restore_backup(BackupId=b["BackupId"])
        restored = resp["Backup"]
        self.assertEqual(set(resp) - {"ResponseMetadata"}, {"Backup"})
        self.assertEqual(set(restored), RESTORED_BACKUP_KEYS)
        self.assertEqual(restored["BackupId"], b["BackupId"])
        self.assertEqual(restored["BackupArn"], b["BackupArn"])
        self.assertEqual(restored["BackupState"], "READY")
        self.assertEqual(restored["ClusterId"], b["ClusterId"])
        self.assertEqual(restored["CreateTimestamp"], b["CreateTimestamp"])
        self.assertTimestamp(restored["CreateTimestamp"], "CreateTimestamp")
        self.assertEqual(restored["HsmType"], HSM_TYPE)
        self.assertEqual(restored["Mode"], "FIPS")
        self.assertIs(restored["NeverExpires"], False)
        self.assertEqual(restored["TagList"], [])
        # botocore drops null members while parsing: check the wire for "absent, not null".
        raw = self.raw.body("RestoreBackup")
        self.assertEqual(set(raw), {"Backup"})
        self.assertEqual(set(raw["Backup"]), RESTORED_BACKUP_KEYS, "raw RestoreBackup body: %s" % raw)
        self.assertNotIn("DeleteTimestamp", raw["Backup"])
        listed = describe_backup(self.c, b["BackupId"])
        self.assertEqual(listed["BackupState"], "READY")
        self.assertNotIn("DeleteTimestamp", listed)
        self.assertNotIn("DeleteTimestamp", self.raw.body("DescribeBackups")["Backups"][0])

    def test_12_restore_ready_backup_is_invalid(self):
        (b,) = self.need("backup")
        e = self.assertClientError("CloudHsmInvalidRequestException", self.c.restore_backup, BackupId=b["BackupId"],
                                   message_contains="READY")
        self.assertRegex(e.response["ResponseMetadata"]["RequestId"], UUID_RE)
        raw = self.raw.body("RestoreBackup")
        self.assertEqual(raw["__type"], "CloudHsmInvalidRequestException")
        self.assertEqual(raw["message"], e.response["Error"]["Message"])
        self.assertEqual(self.raw.last["RestoreBackup"][1].get("x-amzn-errortype"), "CloudHsmInvalidRequestException")
        with self.assertRaises(self.c.exceptions.CloudHsmInvalidRequestException):
            self.c.restore_backup(BackupId=b["BackupId"])
        self.assertEqual(describe_backup(self.c, b["BackupId"])["BackupState"], "READY")

    def test_13_expiry_after_seven_days(self):
        (b,) = self.need("backup")
        deleted = self.c.delete_backup(BackupId=b["BackupId"])["Backup"]
        advance_clock("192h")  # 8 days: past DeleteTimestamp, inside the 7-day tombstone period
        listed = describe_backup(self.c, b["BackupId"])
        self.assertEqual(listed["BackupState"], "DELETED")
        self.assertEqual(listed.get("DeleteTimestamp"), deleted["DeleteTimestamp"], "DeleteTimestamp is kept on DELETED")
        self.assertClientError("CloudHsmInvalidRequestException", self.c.restore_backup, BackupId=b["BackupId"],
                               message_contains="DELETED")
        with self.assertRaises(self.c.exceptions.CloudHsmInvalidRequestException):
            self.c.restore_backup(BackupId=b["BackupId"])
        self.assertEqual(describe_backup(self.c, b["BackupId"])["BackupState"], "DELETED")
        # Eight virtual days of an ACTIVE cluster: eight daily backups, all READY.
        daily = [x for x in cluster_backups(self.c, b["ClusterId"]) if x["BackupId"] != b["BackupId"]]
        self.assertEqual(len(daily), 8, [(x["BackupId"], x["BackupState"]) for x in daily])
        self.assertEqual({x["BackupState"] for x in daily}, {"READY"})
        self.state["expired"] = True

    def test_14_tombstone_then_gone(self):
        b, _ = self.need("backup", "expired")
        advance_clock("168h")  # the 7-day tombstone period is over
        self.assertEqual(self.c.describe_backups(Filters={"backupIds": [b["BackupId"]]})["Backups"], [])
        self.assertClientError("CloudHsmResourceNotFoundException", self.c.restore_backup, BackupId=b["BackupId"])
        self.assertClientError("CloudHsmResourceNotFoundException", self.c.delete_backup, BackupId=b["BackupId"])


# --------------------------------------------------------------------------------------------
# RestoreBackup (and friends) errors through botocore
# --------------------------------------------------------------------------------------------

class T02RestoreErrors(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.cluster, cls.backup = make_active_cluster(cls.c)

    def test_unknown_backup_is_not_found(self):
        e = self.assertClientError("CloudHsmResourceNotFoundException", self.c.restore_backup, BackupId="backup-aaaaaaaaaaa")
        self.assertIn("backup-aaaaaaaaaaa", e.response["Error"]["Message"])
        with self.assertRaises(self.c.exceptions.CloudHsmResourceNotFoundException):
            self.c.restore_backup(BackupId="backup-aaaaaaaaaaa")

    def test_malformed_id_reaches_the_server(self):
        # botocore has no client-side pattern check (the model's BackupId pattern is not enforced
        # by its ParamValidator), so "backup-1" is sent and the server rejects it.
        try:
            self.c.restore_backup(BackupId="backup-1")
        except ParamValidationError as e:  # pragma: no cover - would mean botocore changed
            self.fail("botocore validated the pattern client-side: %s" % e)
        except self.c.exceptions.CloudHsmInvalidRequestException as e:
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
            self.assertEqual(
                e.response["Error"]["Message"],
                "1 validation error detected: Value 'backup-1' at 'backupId' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ^backup-[2-7a-zA-Z]{11,16}$",
            )
        else:
            self.fail("restore_backup(BackupId='backup-1') succeeded")

    def test_missing_id_is_a_client_side_error(self):
        self.raw.last.clear()
        with self.assertRaises(ParamValidationError) as cm:
            self.c.restore_backup()
        self.assertIn("BackupId", str(cm.exception))
        self.assertNotIn("RestoreBackup", self.raw.last, "nothing may be sent")

    def test_exception_classes_are_client_errors(self):
        self.assertTrue(issubclass(self.c.exceptions.CloudHsmInvalidRequestException, ClientError))
        with self.assertRaises(self.c.exceptions.CloudHsmInvalidRequestException) as cm:
            self.c.restore_backup(BackupId=self.backup["BackupId"])
        self.assertEqual(cm.exception.response["Error"]["Code"], "CloudHsmInvalidRequestException")
        self.assertEqual(cm.exception.operation_name, "RestoreBackup")

    def test_other_account_sees_not_found(self):
        other = client(account=STRANGER_ACCOUNT)
        self.assertClientError("CloudHsmResourceNotFoundException", other.restore_backup, BackupId=self.backup["BackupId"])
        self.assertClientError("CloudHsmResourceNotFoundException", other.delete_backup, BackupId=self.backup["BackupId"])
        self.assertEqual(other.describe_backups()["Backups"], [])

    def test_other_region_sees_not_found(self):
        other = client(region=OTHER_REGION)
        self.assertClientError("CloudHsmResourceNotFoundException", other.restore_backup, BackupId=self.backup["BackupId"])
        self.assertEqual(other.describe_backups()["Backups"], [])

    def test_invalid_filter_key(self):
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups, Filters={"color": ["blue"]})
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups, Filters={"states": ["GONE"]})


# --------------------------------------------------------------------------------------------
# CopyBackupToRegion
# --------------------------------------------------------------------------------------------

class T03CopyBackupToRegion(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.eu = client(region=OTHER_REGION)
        cls.cluster, cls.backup = make_active_cluster(cls.c)
        cls.c.tag_resource(ResourceId=cls.backup["BackupId"], TagList=[{"Key": "team", "Value": "crypto"}])

    def test_copy_and_find_in_destination(self):
        src = self.backup
        resp = self.c.copy_backup_to_region(DestinationRegion=OTHER_REGION, BackupId=src["BackupId"])
        dest = resp["DestinationBackup"]
        self.assertEqual(set(dest), DESTINATION_BACKUP_KEYS)
        self.assertEqual(set(self.raw.body("CopyBackupToRegion")["DestinationBackup"]), DESTINATION_BACKUP_KEYS)
        self.assertEqual(dest["SourceRegion"], REGION)
        self.assertEqual(dest["SourceBackup"], src["BackupId"])
        self.assertEqual(dest["SourceCluster"], self.cluster["ClusterId"])
        self.assertEqual(dest["CreateTimestamp"], src["CreateTimestamp"])

        found = self.eu.describe_backups(Filters={"sourceBackupIds": [src["BackupId"]]})["Backups"]
        self.assertEqual(len(found), 1, found)
        copy = wait_backup_state(self.eu, found[0]["BackupId"], "READY")
        self.assertRegex(copy["BackupId"], ID_RE["backup"])
        self.assertNotEqual(copy["BackupId"], src["BackupId"])
        self.assertEqual(copy["BackupArn"], "arn:aws:cloudhsm:%s:%s:backup/%s" % (OTHER_REGION, ACCOUNT, copy["BackupId"]))
        self.assertNotIn("ClusterId", copy)
        self.assertEqual(copy["SourceRegion"], REGION)
        self.assertEqual(copy["SourceBackup"], src["BackupId"])
        self.assertEqual(copy["SourceCluster"], self.cluster["ClusterId"])
        self.assertEqual(copy["CreateTimestamp"], src["CreateTimestamp"])
        self.assertTimestamp(copy["CopyTimestamp"], "CopyTimestamp")
        self.assertAbout(copy["CopyTimestamp"], server_now(), "CopyTimestamp", datetime.timedelta(seconds=30))
        self.assertEqual((copy["HsmType"], copy["Mode"]), (src["HsmType"], src["Mode"]))
        self.assertEqual(copy["TagList"], [{"Key": "team", "Value": "crypto"}], "tags are the source's")
        # The copy lives only in the destination region.
        self.assertEqual(self.c.describe_backups(Filters={"sourceBackupIds": [src["BackupId"]]})["Backups"], [])
        self.assertEqual(len(self.eu.describe_backups()["Backups"]), 1)

    def test_copy_with_its_own_tags(self):
        self.c.copy_backup_to_region(DestinationRegion="eu-central-1", BackupId=self.backup["BackupId"],
                                     TagList=[{"Key": "copy", "Value": "yes"}])
        eu = client(region="eu-central-1")
        found = eu.describe_backups(Filters={"sourceBackupIds": [self.backup["BackupId"]]})["Backups"]
        self.assertEqual([b["TagList"] for b in found], [[{"Key": "copy", "Value": "yes"}]])

    def test_copy_to_own_region_is_invalid(self):
        self.assertClientError("CloudHsmInvalidRequestException", self.c.copy_backup_to_region,
                               DestinationRegion=REGION, BackupId=self.backup["BackupId"])

    def test_copy_needs_a_ready_backup(self):
        extra = admin("POST", "clusters/%s/backups" % self.cluster["ClusterId"])[1]["Backup"]
        wait_backup_state(self.c, extra["BackupId"], "READY")
        self.c.delete_backup(BackupId=extra["BackupId"])
        self.assertClientError("CloudHsmInvalidRequestException", self.c.copy_backup_to_region,
                               DestinationRegion=OTHER_REGION, BackupId=extra["BackupId"],
                               message_contains="PENDING_DELETION")

    def test_copy_to_invalid_region_is_invalid(self):
        self.assertClientError("CloudHsmInvalidRequestException", self.c.copy_backup_to_region,
                               DestinationRegion="mars-north-1x", BackupId=self.backup["BackupId"])

    def test_copy_unknown_backup_is_not_found(self):
        self.assertClientError("CloudHsmResourceNotFoundException", self.c.copy_backup_to_region,
                               DestinationRegion=OTHER_REGION, BackupId="backup-bbbbbbbbbbb")


# --------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------

class T04Tags(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.cluster, cls.backup = make_active_cluster(cls.c)

    def test_tag_list_untag_backup(self):
        bid = self.backup["BackupId"]
        resp = self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "ops"}])
        self.assertEqual(set(resp), {"ResponseMetadata"})
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.c.list_tags(ResourceId=bid)["TagList"],
                         [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "ops"}])
        self.assertEqual(describe_backup(self.c, bid)["TagList"],
                         [{"Key": "env", "Value": "dev"}, {"Key": "owner", "Value": "ops"}])
        self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "env", "Value": "prod"}])
        self.assertIn({"Key": "env", "Value": "prod"}, self.c.list_tags(ResourceId=bid)["TagList"])
        resp = self.c.untag_resource(ResourceId=bid, TagKeyList=["env"])
        self.assertEqual(set(resp), {"ResponseMetadata"})
        self.assertEqual(self.c.list_tags(ResourceId=bid)["TagList"], [{"Key": "owner", "Value": "ops"}])
        self.c.untag_resource(ResourceId=bid, TagKeyList=["owner"])
        self.assertEqual(self.c.list_tags(ResourceId=bid)["TagList"], [])

    def fresh_backup(self):
        b = admin("POST", "clusters/%s/backups" % self.cluster["ClusterId"])[1]["Backup"]
        return wait_backup_state(self.c, b["BackupId"], "READY")["BackupId"]

    def test_tag_cluster(self):
        cid = self.cluster["ClusterId"]
        self.c.tag_resource(ResourceId=cid, TagList=[{"Key": "name", "Value": "main"}])
        self.assertEqual(self.c.list_tags(ResourceId=cid)["TagList"], [{"Key": "name", "Value": "main"}])
        self.assertEqual(describe_cluster(self.c, cid)["TagList"], [{"Key": "name", "Value": "main"}])

    def test_list_tags_paginates(self):
        bid = self.fresh_backup()
        self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "k%02d" % i, "Value": str(i)} for i in range(5)])
        pages = list(self.c.get_paginator("list_tags").paginate(ResourceId=bid, PaginationConfig={"PageSize": 2}))
        self.assertEqual([len(p["TagList"]) for p in pages], [2, 2, 1])
        self.assertEqual([t["Key"] for p in pages for t in p["TagList"]], ["k00", "k01", "k02", "k03", "k04"])

    def test_reserved_prefix(self):
        self.assertClientError("CloudHsmTagException", self.c.tag_resource, ResourceId=self.backup["BackupId"],
                               TagList=[{"Key": "aws:owner", "Value": "x"}])
        with self.assertRaises(self.c.exceptions.CloudHsmTagException):
            self.c.untag_resource(ResourceId=self.backup["BackupId"], TagKeyList=["aws:owner"])

    def test_more_than_fifty_tags_per_resource(self):
        bid = self.fresh_backup()
        self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "a%02d" % i, "Value": "v"} for i in range(30)])
        self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "b%02d" % i, "Value": "v"} for i in range(20)])
        self.assertEqual(len(self.c.list_tags(ResourceId=bid)["TagList"]), 50)
        self.assertClientError("CloudHsmResourceLimitExceededException", self.c.tag_resource, ResourceId=bid,
                               TagList=[{"Key": "c00", "Value": "v"}])
        with self.assertRaises(self.c.exceptions.CloudHsmResourceLimitExceededException):
            self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "c01", "Value": "v"}])
        # Replacing an existing key does not add a tag.
        self.c.tag_resource(ResourceId=bid, TagList=[{"Key": "a00", "Value": "w"}])
        self.assertEqual(len(self.c.list_tags(ResourceId=bid)["TagList"]), 50)

    def test_more_than_fifty_tags_in_one_request_violates_the_model(self):
        # TagResourceRequest.TagList has length 1..50 in the model: a validation error, not a limit.
        self.assertClientError("CloudHsmInvalidRequestException", self.c.tag_resource,
                               ResourceId=self.fresh_backup(),
                               TagList=[{"Key": "t%02d" % i, "Value": "v"} for i in range(51)],
                               message_contains="Member must have length less than or equal to 50")

    def test_unknown_resource(self):
        self.assertClientError("CloudHsmResourceNotFoundException", self.c.list_tags, ResourceId="backup-ccccccccccc")


# --------------------------------------------------------------------------------------------
# ModifyBackupAttributes
# --------------------------------------------------------------------------------------------

class T05ModifyBackupAttributes(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.cluster, cls.backup = make_active_cluster(cls.c)

    def test_never_expires_round_trip(self):
        bid = self.backup["BackupId"]
        b = self.c.modify_backup_attributes(BackupId=bid, NeverExpires=True)["Backup"]
        self.assertEqual(b["BackupId"], bid)
        self.assertIs(b["NeverExpires"], True)
        self.assertEqual(b["BackupState"], "READY")
        self.assertEqual([x["BackupId"] for x in self.c.describe_backups(Filters={"neverExpires": ["true"]})["Backups"]], [bid])
        self.assertEqual(self.c.describe_backups(Filters={"neverExpires": ["false"]})["Backups"], [])
        b = self.c.modify_backup_attributes(BackupId=bid, NeverExpires=False)["Backup"]
        self.assertIs(b["NeverExpires"], False)
        self.assertIs(describe_backup(self.c, bid)["NeverExpires"], False)

    def test_pending_deletion_backup_can_be_modified(self):
        extra = admin("POST", "clusters/%s/backups" % self.cluster["ClusterId"])[1]["Backup"]
        wait_backup_state(self.c, extra["BackupId"], "READY")
        self.c.delete_backup(BackupId=extra["BackupId"])
        b = self.c.modify_backup_attributes(BackupId=extra["BackupId"], NeverExpires=True)["Backup"]
        self.assertEqual((b["BackupState"], b["NeverExpires"]), ("PENDING_DELETION", True))

    def test_bad_filter_value(self):
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups, Filters={"neverExpires": ["yes"]})

    def test_missing_never_expires_is_client_side(self):
        with self.assertRaises(ParamValidationError):
            self.c.modify_backup_attributes(BackupId=self.backup["BackupId"])


# --------------------------------------------------------------------------------------------
# Resource policies and a second account
# --------------------------------------------------------------------------------------------

class T06ResourcePolicySharing(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.friend = client(account=SHARE_ACCOUNT)
        cls.stranger = client(account=STRANGER_ACCOUNT)
        cls.cluster, cls.backup = make_active_cluster(cls.c)
        cls.arn = cls.backup["BackupArn"]

    def test_01_no_policy_yet(self):
        resp = self.c.get_resource_policy(ResourceArn=self.arn)
        self.assertNotIn("Policy", resp)
        self.assertEqual(self.friend.describe_backups(Shared=True)["Backups"], [])
        self.assertClientError("CloudHsmAccessDeniedException", self.friend.create_cluster,
                               HsmType=HSM_TYPE, SubnetIds=SUBNETS, SourceBackupId=self.arn)

    def test_02_put_and_get(self):
        policy = share_policy(self.arn, SHARE_ACCOUNT)
        resp = self.c.put_resource_policy(ResourceArn=self.arn, Policy=policy)
        self.assertEqual(resp["ResourceArn"], self.arn)
        self.assertEqual(json.loads(resp["Policy"]), json.loads(policy))
        got = self.c.get_resource_policy(ResourceArn=self.arn)
        # The model's GetResourcePolicyResponse has only Policy (Put/Delete also echo ResourceArn).
        self.assertEqual(set(got) - {"ResponseMetadata"}, {"Policy"})
        self.assertEqual(got["Policy"], policy, "the document is returned as stored")

    def test_03_shared_describe(self):
        shared = self.friend.describe_backups(Shared=True)["Backups"]
        self.assertEqual([b["BackupId"] for b in shared], [self.backup["BackupId"]])
        self.assertEqual(shared[0]["BackupArn"], self.arn)
        self.assertEqual(shared[0]["BackupState"], "READY")
        self.assertEqual(self.friend.describe_backups()["Backups"], [], "shared backups are not owned backups")
        self.assertEqual(self.stranger.describe_backups(Shared=True)["Backups"], [])
        self.assertEqual(client(account=SHARE_ACCOUNT, region=OTHER_REGION).describe_backups(Shared=True)["Backups"], [])

    def test_04_create_cluster_from_shared_arn(self):
        cl = self.friend.create_cluster(HsmType=HSM_TYPE, SubnetIds=SUBNETS, SourceBackupId=self.arn)["Cluster"]
        self.assertEqual(cl["State"], "CREATE_IN_PROGRESS")
        self.assertEqual(cl["SourceBackupId"], self.backup["BackupId"], "SourceBackupId is the plain ID")
        active = wait_cluster_state(self.friend, cl["ClusterId"], "ACTIVE")
        self.assertEqual(active["SourceBackupId"], self.backup["BackupId"])
        self.assertEqual(self.friend.describe_clusters()["Clusters"][0]["ClusterId"], cl["ClusterId"])
        self.assertEqual([c["ClusterId"] for c in self.c.describe_clusters()["Clusters"]], [self.cluster["ClusterId"]])
        self.__class__.friend_cluster = cl["ClusterId"]

    def test_05_only_owner_manages_policy(self):
        self.assertClientError("CloudHsmAccessDeniedException", self.friend.get_resource_policy, ResourceArn=self.arn)
        self.assertClientError("CloudHsmAccessDeniedException", self.friend.delete_resource_policy, ResourceArn=self.arn)
        self.assertClientError("CloudHsmAccessDeniedException", self.stranger.create_cluster,
                               HsmType=HSM_TYPE, SubnetIds=SUBNETS, SourceBackupId=self.arn)
        # Shared backups are still not the friend's to restore or delete.
        self.assertClientError("CloudHsmResourceNotFoundException", self.friend.delete_backup, BackupId=self.backup["BackupId"])

    def test_06_bad_policies(self):
        extra = admin("POST", "clusters/%s/backups" % self.cluster["ClusterId"])[1]["Backup"]
        wait_backup_state(self.c, extra["BackupId"], "READY")
        self.c.delete_backup(BackupId=extra["BackupId"])
        self.assertClientError("CloudHsmInvalidRequestException", self.c.put_resource_policy, ResourceArn=extra["BackupArn"],
                               Policy=share_policy(extra["BackupArn"], SHARE_ACCOUNT), message_contains="PENDING_DELETION")

        self.assertClientError("CloudHsmInvalidRequestException", self.c.put_resource_policy, ResourceArn=self.arn,
                               Policy=share_policy(self.arn, SHARE_ACCOUNT, actions=("cloudhsm:DeleteBackup",)))
        self.assertClientError("CloudHsmInvalidRequestException", self.c.put_resource_policy, ResourceArn=self.arn,
                               Policy="not json")

    def test_07_delete_policy_ends_sharing(self):
        resp = self.c.delete_resource_policy(ResourceArn=self.arn)
        self.assertEqual(resp["ResourceArn"], self.arn)
        self.assertEqual(json.loads(resp["Policy"]), json.loads(share_policy(self.arn, SHARE_ACCOUNT)))
        self.assertNotIn("Policy", self.c.get_resource_policy(ResourceArn=self.arn))
        self.assertEqual(self.friend.describe_backups(Shared=True)["Backups"], [])
        self.assertClientError("CloudHsmAccessDeniedException", self.friend.create_cluster,
                               HsmType=HSM_TYPE, SubnetIds=SUBNETS, SourceBackupId=self.arn)
        friend_cluster = getattr(self, "friend_cluster", None)
        if friend_cluster:  # clusters already made are unaffected
            self.assertEqual(describe_cluster(self.friend, friend_cluster)["State"], "ACTIVE")


# --------------------------------------------------------------------------------------------
# Pagination and ordering
# --------------------------------------------------------------------------------------------

class T07Pagination(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.cluster, first = make_active_cluster(cls.c)
        cls.ids = [first["BackupId"]]
        for _ in range(6):
            time.sleep(0.003)  # distinct millisecond CreateTimestamps
            b = admin("POST", "clusters/%s/backups" % cls.cluster["ClusterId"])[1]["Backup"]
            cls.ids.append(b["BackupId"])
        for bid in cls.ids:
            wait_backup_state(cls.c, bid, "READY")

    def test_paginator_describe_backups(self):
        pages = list(self.c.get_paginator("describe_backups").paginate(PaginationConfig={"PageSize": 2}))
        self.assertEqual([len(p["Backups"]) for p in pages], [2, 2, 2, 1])
        for p in pages[:-1]:
            self.assertTrue(p.get("NextToken"), "every page but the last has a NextToken")
        self.assertFalse(pages[-1].get("NextToken"))
        got = [b["BackupId"] for p in pages for b in p["Backups"]]
        self.assertEqual(sorted(got), sorted(self.ids))
        self.assertEqual(got, list(reversed(self.ids)), "newest first")
        stamps = [b["CreateTimestamp"] for p in pages for b in p["Backups"]]
        self.assertEqual(stamps, sorted(stamps, reverse=True))

    def test_paginator_sort_ascending_and_full_result(self):
        full = self.c.get_paginator("describe_backups").paginate(
            SortAscending=True, PaginationConfig={"PageSize": 3}).build_full_result()
        self.assertEqual([b["BackupId"] for b in full["Backups"]], self.ids)

    def test_paginator_with_filter(self):
        later = self.ids[1:4]
        pages = list(self.c.get_paginator("describe_backups").paginate(
            Filters={"backupIds": later}, PaginationConfig={"PageSize": 1}))
        self.assertEqual([b["BackupId"] for p in pages for b in p["Backups"]], list(reversed(later)))

    def test_max_results_out_of_range(self):
        # botocore checks the model's minimum itself, but not the maximum: 51 reaches the server.
        with self.assertRaises(ParamValidationError):
            self.c.describe_backups(MaxResults=0)
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups, MaxResults=51,
                               message_contains="Member must have value less than or equal to 50")
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_clusters, MaxResults=26)

    def test_token_bound_to_filters(self):
        token = self.c.describe_backups(MaxResults=2)["NextToken"]
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups,
                               MaxResults=2, NextToken=token, SortAscending=True)
        self.assertClientError("CloudHsmInvalidRequestException", self.c.describe_backups,
                               MaxResults=2, NextToken=token[:-2] + ("AA" if not token.endswith("AA") else "BB"))

    def test_paginator_describe_clusters(self):
        for _ in range(2):
            create_cluster(self.c)
        pages = list(self.c.get_paginator("describe_clusters").paginate(PaginationConfig={"PageSize": 1}))
        self.assertEqual([len(p["Clusters"]) for p in pages], [1, 1, 1])
        ids = [c["ClusterId"] for p in pages for c in p["Clusters"]]
        self.assertEqual(ids[0], self.cluster["ClusterId"], "oldest first")
        self.assertEqual(len(set(ids)), 3)


# --------------------------------------------------------------------------------------------
# Response metadata
# --------------------------------------------------------------------------------------------

class T08ResponseMetadata(CompatTestCase):
    def test_request_id(self):
        c = client()
        raw = RawBodies(c)
        ids = set()
        for _ in range(3):
            md = c.describe_clusters()["ResponseMetadata"]
            self.assertEqual(md["HTTPStatusCode"], 200)
            self.assertRegex(md["RequestId"], UUID_RE)
            self.assertEqual(md["HTTPHeaders"]["x-amzn-requestid"], md["RequestId"])
            self.assertEqual(md["HTTPHeaders"]["content-type"], "application/x-amz-json-1.1")
            ids.add(md["RequestId"])
        self.assertEqual(len(ids), 3, "request ids are unique")
        e = self.assertClientError("CloudHsmResourceNotFoundException", c.delete_backup, BackupId="backup-ddddddddddd")
        self.assertRegex(e.response["ResponseMetadata"]["RequestId"], UUID_RE)
        self.assertEqual(raw.body("DeleteBackup")["__type"], "CloudHsmResourceNotFoundException")

    def test_default_account_for_non_numeric_key(self):
        c = boto3.client("cloudhsmv2", endpoint_url=ENDPOINT, region_name=REGION,
                         aws_access_key_id="AKIAEXAMPLEKEY", aws_secret_access_key="x")
        cl = create_cluster(c)
        self.assertEqual(client().describe_clusters()["Clusters"], [])
        self.assertEqual([x["ClusterId"] for x in client(account="000000000000").describe_clusters()["Clusters"]],
                         [cl["ClusterId"]])


# --------------------------------------------------------------------------------------------
# Initialisation through the user guide's openssl commands (whatever the default signer is)
# --------------------------------------------------------------------------------------------

class T09OpensslSignedCertificate(CompatTestCase):
    def test_initialize_with_openssl_signed_certificate(self):
        if shutil.which("openssl") is None:
            self.fail("openssl is not on PATH")
        c = client()
        ca = CustomerCA(use_openssl=True)
        try:
            cl, backup = make_active_cluster(c, ca=ca)
        finally:
            ca.close()
        self.assertEqual(cl["State"], "ACTIVE")
        self.assertEqual(backup["BackupState"], "READY")


# --------------------------------------------------------------------------------------------
# Retention policy (ModifyCluster) and the virtual clock
# --------------------------------------------------------------------------------------------

class T10RetentionPolicy(CompatTestCase):
    """A 7-day policy expires old backups at the daily tick; a restored one is expired again."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.raw = RawBodies(cls.c)
        cls.cluster, cls.first = make_active_cluster(cls.c)
        cls.state = {}

    def states(self):
        return {b["BackupId"]: b["BackupState"] for b in cluster_backups(self.c, self.cluster["ClusterId"])}

    def test_01_modify_retention(self):
        cl = self.c.modify_cluster(ClusterId=self.cluster["ClusterId"],
                                   BackupRetentionPolicy={"Type": "DAYS", "Value": "7"})["Cluster"]
        self.assertEqual(cl["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "7"})
        self.assertEqual(self.raw.body("ModifyCluster")["Cluster"]["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "7"})
        self.assertEqual(describe_cluster(self.c, cl["ClusterId"])["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "7"})
        self.assertEqual(self.states(), {self.first["BackupId"]: "READY"}, "the newest backup is never expired")
        self.state["modified"] = True

    def test_02_out_of_range_retention(self):
        for value in ("6", "380"):
            self.assertClientError("CloudHsmInvalidRequestException", self.c.modify_cluster,
                                   ClusterId=self.cluster["ClusterId"],
                                   BackupRetentionPolicy={"Type": "DAYS", "Value": value})

    def test_03_expired_by_policy_after_eight_days(self):
        if "modified" not in self.state:
            self.fail("an earlier step failed")
        first = self.first["BackupId"]
        activated = self.first["CreateTimestamp"]
        advance_clock("192h")
        states = self.states()
        self.assertEqual(len(states), 9, "the activation backup and eight daily ones: %s" % states)
        self.assertEqual(states.pop(first), "PENDING_DELETION")
        self.assertEqual(set(states.values()), {"READY"}, states)
        b = describe_backup(self.c, first)
        # Expired at the eighth daily tick (activation + 192 h), restorable for 7 days from then.
        self.assertEqual(b["DeleteTimestamp"], activated + datetime.timedelta(hours=192) + PENDING_DELETION)
        self.state["expired"] = True

    def test_04_restored_backup_is_expired_again(self):
        if "expired" not in self.state:
            self.fail("an earlier step failed")
        first = self.first["BackupId"]
        self.assertEqual(self.c.restore_backup(BackupId=first)["Backup"]["BackupState"], "READY")
        advance_clock("24h")
        states = self.states()
        self.assertEqual(states[first], "PENDING_DELETION", "still outside the policy at the next evaluation")
        self.assertEqual(sorted(states.values()).count("PENDING_DELETION"), 2, states)  # and the first daily one

    def test_05_never_expires_protects(self):
        if "expired" not in self.state:
            self.fail("an earlier step failed")
        first = self.first["BackupId"]
        self.c.modify_backup_attributes(BackupId=first, NeverExpires=True)
        self.c.restore_backup(BackupId=first)
        advance_clock("24h")
        b = describe_backup(self.c, first)
        self.assertEqual((b["BackupState"], b["NeverExpires"]), ("READY", True))
        self.assertNotIn("DeleteTimestamp", b)


# --------------------------------------------------------------------------------------------
# HSM and cluster deletion, clusters from backups
# --------------------------------------------------------------------------------------------

class T11HsmsAndClusterDeletion(CompatTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.c = client()
        cls.ca = CustomerCA()
        cls.cluster, cls.first = make_active_cluster(cls.c, ca=cls.ca)
        cls.state = {}

    @classmethod
    def tearDownClass(cls):
        cls.ca.close()

    def backups(self):
        return cluster_backups(self.c, self.cluster["ClusterId"])

    def test_01_second_hsm_takes_a_backup(self):
        cid = self.cluster["ClusterId"]
        az = sorted(self.cluster["SubnetMapping"])[1]
        hsm = self.c.create_hsm(ClusterId=cid, AvailabilityZone=az, IpAddress="10.9.9.9")["Hsm"]
        self.assertEqual(hsm["EniIp"], "10.9.9.9")
        wait_for("HSM %s ACTIVE" % hsm["HsmId"], lambda: all(h["State"] == "ACTIVE" for h in describe_cluster(self.c, cid)["Hsms"]))
        self.assertEqual(len(self.backups()), 2)
        self.assertClientError("CloudHsmInvalidRequestException", self.c.create_hsm, ClusterId=cid,
                               AvailabilityZone=az, IpAddress="10.9.9.9")
        self.assertClientError("CloudHsmInvalidRequestException", self.c.create_hsm, ClusterId=cid,
                               AvailabilityZone="us-east-1f")
        self.state["second"] = hsm

    def test_02_delete_hsms_then_cluster(self):
        cid = self.cluster["ClusterId"]
        hsms = describe_cluster(self.c, cid)["Hsms"]
        self.assertEqual(len(hsms), 2)
        self.assertClientError("CloudHsmInvalidRequestException", self.c.delete_cluster, ClusterId=cid)
        self.assertClientError("CloudHsmInvalidRequestException", self.c.delete_hsm, ClusterId=cid,
                               HsmId=hsms[0]["HsmId"], EniIp=hsms[0]["EniIp"])
        before = len(self.backups())
        self.assertEqual(self.c.delete_hsm(ClusterId=cid, HsmId=hsms[0]["HsmId"])["HsmId"], hsms[0]["HsmId"])
        self.assertEqual(self.c.delete_hsm(ClusterId=cid, EniIp=hsms[1]["EniIp"])["HsmId"], hsms[1]["HsmId"])
        wait_for("HSMs gone", lambda: describe_cluster(self.c, cid)["Hsms"] == [])
        self.assertEqual(len(self.backups()), before + 2, "a backup when each HSM is deleted from an ACTIVE cluster")
        cl = self.c.delete_cluster(ClusterId=cid)["Cluster"]
        self.assertEqual(cl["State"], "DELETE_IN_PROGRESS")
        wait_cluster_state(self.c, cid, "DELETED")
        backups = self.backups()
        self.assertEqual(len(backups), before + 2, "a deleted cluster's backups stay")
        self.assertEqual({b["BackupState"] for b in backups}, {"READY"})
        self.state["deleted"] = True

    def test_03_cluster_from_backup(self):
        src = self.first
        cl = create_cluster(self.c, SourceBackupId=src["BackupId"])
        self.assertEqual(cl["SourceBackupId"], src["BackupId"])
        active = wait_cluster_state(self.c, cl["ClusterId"], "ACTIVE")
        self.assertEqual(active["SourceBackupId"], src["BackupId"])
        self.assertEqual(active["Certificates"].get("ClusterCertificate", "").strip(),
                         describe_cluster(self.c, self.cluster["ClusterId"])["Certificates"]["ClusterCertificate"].strip(),
                         "a cluster from a backup has the source cluster's certificates")
        pending = self.c.delete_backup(BackupId=self.backups()[0]["BackupId"])["Backup"]
        self.assertClientError("CloudHsmInvalidRequestException", create_cluster, self.c, SourceBackupId=pending["BackupId"],
                               message_contains="PENDING_DELETION")


# --------------------------------------------------------------------------------------------
# The wire, below botocore
# --------------------------------------------------------------------------------------------

class T12Wire(CompatTestCase):
    def post(self, target, body, headers=None):
        req = urllib.request.Request(ENDPOINT + "/", data=body, method="POST")
        req.add_header("Content-Type", "application/x-amz-json-1.1")
        if target is not None:
            req.add_header("X-Amz-Target", target)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def assertWireError(self, resp, code):
        status, headers, body = resp
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["__type"], code)
        self.assertEqual(headers.get("X-Amzn-ErrorType"), code)
        self.assertTrue(headers.get("x-amzn-RequestId"))

    def test_empty_body_is_accepted(self):
        status, headers, body = self.post("BaldrApiService.DescribeClusters", b"")
        self.assertEqual((status, json.loads(body)), (200, {"Clusters": []}))
        self.assertEqual(headers.get("Content-Type"), "application/x-amz-json-1.1")
        self.assertTrue(headers.get("x-amzn-RequestId"))

    def test_unknown_and_missing_target(self):
        self.assertWireError(self.post("BaldrApiService.Frobnicate", b"{}"), "UnknownOperationException")
        self.assertWireError(self.post(None, b"{}"), "UnknownOperationException")

    def test_bad_bodies(self):
        self.assertWireError(self.post("BaldrApiService.DescribeBackups", b"[1]"), "SerializationException")
        self.assertWireError(self.post("BaldrApiService.DescribeBackups", b"{\"MaxResults\": \"5\"}"), "SerializationException")
        self.assertWireError(self.post("BaldrApiService.DescribeBackups", b"{not json"), "SerializationException")

    def test_unsigned_request_uses_default_account_and_region(self):
        status, _, body = self.post("BaldrApiService.CreateCluster",
                                    json.dumps({"HsmType": HSM_TYPE, "SubnetIds": SUBNETS}).encode())
        self.assertEqual(status, 200, body)
        cid = json.loads(body)["Cluster"]["ClusterId"]
        self.assertEqual([c["ClusterId"] for c in client(account="000000000000").describe_clusters()["Clusters"]], [cid])
        self.assertEqual(client().describe_clusters()["Clusters"], [])


# --------------------------------------------------------------------------------------------
# runner
# --------------------------------------------------------------------------------------------

class CountingResult(unittest.TextTestResult):
    """Counts passing tests; errors in setUpClass count as failures without hiding passes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    global ENDPOINT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", default=ENDPOINT)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="pattern", action="append", help="only tests whose id contains this (repeatable)")
    args = ap.parse_args()
    ENDPOINT = args.endpoint.rstrip("/")
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(var, None)
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    print("boto3 %s, botocore %s, python %s, signer: %s, endpoint %s" % (
        boto3.__version__, botocore.__version__, sys.version.split()[0],
        "cryptography" if HAVE_CRYPTOGRAPHY and os.environ.get("COMPAT_SIGNER") != "openssl" else "openssl", ENDPOINT))
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = ["*%s*" % p for p in args.pattern]
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout,
                                     resultclass=CountingResult).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped)
    passed = result.passed
    if result.skipped:
        print("skipped tests count as failures: %s" % [str(t) for t, _ in result.skipped])
    print("boto3 suite took %.1fs" % (time.monotonic() - start))
    print("boto3 suite: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
