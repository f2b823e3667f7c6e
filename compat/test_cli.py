#!/usr/bin/env python3
"""AWS CLI compatibility suite for cloudhsm-local: the core backup flow, one `aws` process per step.

    python3 compat/test_cli.py --endpoint http://127.0.0.1:4580 [--bin path/to/cloudhsm-local] [-v]

Runs the flow with every AWS CLI it finds: `aws` on PATH (here: AWS CLI v1 through the pyenv shim)
and /usr/bin/aws (Debian's AWS CLI v2, package awscli), which must exist: the suite fails without
it. Each CLI is asked for the output members its own model knows (`--generate-cli-skeleton
output`), and only those are asserted: an older CLI's model may lack members the server sends (AWS
CLI v2 2.9.19 has no Cluster.Mode, Backup.Mode, Backup.HsmType or Backup.BackupArn), and the CLI
drops what its model lacks. Needs curl and openssl on PATH (the admin API is called with curl, the
CSR is signed with the user guide's openssl commands). JSON output is parsed with Python, not jq.
The last line printed is ``cli suite: N passed, M failed`` (compat/run.sh reads it).

Only the standard library is used; boto3 is not needed here.
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

ENDPOINT = os.environ.get("CLOUDHSM_LOCAL_ENDPOINT", "http://127.0.0.1:4580")
SERVER_BIN = os.environ.get("CLOUDHSM_LOCAL_BIN", "")
REGION = "us-east-1"
ACCOUNT = "111122223333"
HSM_TYPE = "hsm2m.medium"
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
CALL_TIMEOUT = 60
RESTORED_BACKUP_KEYS = {
    "BackupId", "BackupArn", "BackupState", "ClusterId", "CreateTimestamp",
    "HsmType", "Mode", "NeverExpires", "TagList",
}
SERVICE_ERROR_EXIT_CODES = (254, 255)  # v2 uses 254 for service errors; v1 uses 255
CLI_V2 = "/usr/bin/aws"  # Debian's AWS CLI v2 (package awscli)
# What the server sends, beyond what every CLI's model has: asserted where the CLI knows them.
CLUSTER_MEMBERS = {"HsmType": HSM_TYPE, "Mode": "FIPS", "BackupPolicy": "DEFAULT", "NetworkType": "IPV4"}


def clean_env(**extra):
    """An environment that cannot pick up the user's AWS profile, config or session token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": ACCOUNT,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
        "AWS_DEFAULT_OUTPUT": "json",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    env.update(extra)
    return env


def run(argv, cwd=None, env=None, timeout=CALL_TIMEOUT):
    try:
        return subprocess.run(argv, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("timed out after %ss: %s" % (timeout, " ".join(argv)))


def curl_admin(method, path, body=None):
    """Calls the admin API with curl; returns (HTTP status, decoded JSON body)."""
    argv = ["curl", "-sS", "--max-time", "30", "-X", method, "-w", "\n%{http_code}",
            ENDPOINT + "/_cloudhsm-local/" + path]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    res = run(argv)
    if res.returncode != 0:
        raise AssertionError("curl %s %s failed (%d): %s" % (method, path, res.returncode, res.stderr))
    text, _, status = res.stdout.rpartition("\n")
    return int(status), (json.loads(text) if text.strip() else None)


def parse_cli_time(value):
    """CLI v1 prints the wire's epoch seconds; v2 prints ISO 8601. Either is fine."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if isinstance(value, str):
        s = value.replace("Z", "+00:00")
        m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)$", s)
        if m and m.group(2):
            s = m.group(1) + (m.group(2) + "000000")[:7] + m.group(3)
        return datetime.datetime.fromisoformat(s)
    raise AssertionError("not a timestamp: %r" % (value,))


def output_members(aws, operation, args, shape):
    """The members of an operation's output shape that the CLI's own model knows."""
    res = run([aws, "--region", REGION, "cloudhsmv2", operation] + args + ["--generate-cli-skeleton", "output"])
    if res.returncode != 0:
        raise AssertionError("%s %s --generate-cli-skeleton output failed (%d): %s" % (aws, operation, res.returncode, res.stderr))
    return set(json.loads(res.stdout)[shape])


def server_now():
    status, body = curl_admin("GET", "clock")
    if status != 200:
        raise AssertionError("GET clock: HTTP %s %s" % (status, body))
    return parse_cli_time(body["now"])


class CLIFlow(unittest.TestCase):
    """The core backup flow through one AWS CLI. Subclassed per CLI binary (see cli_classes)."""

    AWS = None  # path of the aws program
    LABEL = ""
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        status, body = curl_admin("POST", "reset")
        if status != 200:
            raise AssertionError("reset: HTTP %s %s" % (status, body))
        cls.dir = tempfile.mkdtemp(prefix="chl-cli-")
        cls.state = {}
        cls.cluster_members = output_members(cls.AWS, "create-cluster", ["--hsm-type", HSM_TYPE, "--subnet-ids", SUBNETS[0]], "Cluster")
        cls.backup_members = output_members(cls.AWS, "restore-backup", ["--backup-id", "backup-aaaaaaaaaaa"], "Backup")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def aws(self, *args, expect_rc=0):
        argv = [self.AWS, "--endpoint-url", ENDPOINT, "--region", REGION, "--output", "json", "cloudhsmv2"] + list(args)
        res = run(argv, cwd=self.dir)
        if expect_rc is not None and res.returncode != expect_rc:
            self.fail("%s exited %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv[1:]), res.returncode, expect_rc, res.stdout[-2000:], res.stderr[-2000:]))
        return res

    def aws_json(self, *args):
        res = self.aws(*args)
        try:
            return json.loads(res.stdout) if res.stdout.strip() else {}
        except ValueError:
            self.fail("%s printed non-JSON: %r" % (args[0], res.stdout[:500]))

    def aws_service_error(self, code, *args):
        res = self.aws(*args, expect_rc=None)
        self.assertIn(res.returncode, SERVICE_ERROR_EXIT_CODES,
                      "%s should fail with a service error; exit %d, stderr %s" % (args[0], res.returncode, res.stderr))
        self.assertIn(code, res.stderr)
        self.assertEqual(res.stdout.strip(), "")
        return res

    def need(self, *keys):
        missing = [k for k in keys if k not in self.state]
        if missing:
            self.fail("an earlier step failed: no %s" % ", ".join(missing))
        return [self.state[k] for k in keys] if len(keys) > 1 else self.state[keys[0]]

    def openssl(self, *args):
        res = run(["openssl"] + list(args), cwd=self.dir)
        if res.returncode != 0:
            self.fail("openssl %s failed (%d): %s" % (" ".join(args), res.returncode, res.stderr))

    # -- the flow ------------------------------------------------------------------------

    def test_01_version(self):
        res = run([self.AWS, "--version"])
        self.assertEqual(res.returncode, 0, res.stderr)
        lacks = sorted(["Cluster." + k for k in CLUSTER_MEMBERS if k not in self.cluster_members] +
                       ["Backup." + k for k in RESTORED_BACKUP_KEYS if k not in self.backup_members])
        print("\n    %s: %s; its model lacks %s" % (self.LABEL, (res.stdout or res.stderr).strip(),
                                                  ", ".join(lacks) or "nothing the flow checks"), end=" ... ")
        # What every CLI must know for the flow to mean anything.
        self.assertLessEqual({"ClusterId", "State", "SubnetMapping", "BackupRetentionPolicy", "Certificates", "Hsms"}, self.cluster_members)
        self.assertLessEqual({"BackupId", "BackupState", "ClusterId", "CreateTimestamp", "DeleteTimestamp", "NeverExpires", "TagList"}, self.backup_members)

    def test_02_describe_backups_empty(self):
        self.assertEqual(self.aws_json("describe-backups"), {"Backups": []})

    def test_03_create_cluster(self):
        cl = self.aws_json("create-cluster", "--hsm-type", HSM_TYPE, "--subnet-ids", *SUBNETS)["Cluster"]
        self.assertRegex(cl["ClusterId"], r"^cluster-[a-z2-7]{11}$")
        self.assertEqual(cl["State"], "CREATE_IN_PROGRESS")
        self.assertEqual(cl["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "90"})
        self.assertEqual(sorted(cl["SubnetMapping"].values()), sorted(SUBNETS))
        self.assertEqual(len(cl["SubnetMapping"]), 2)
        for member, value in CLUSTER_MEMBERS.items():
            if member in self.cluster_members:
                self.assertEqual(cl.get(member), value, member)
            else:  # the CLI drops what its model lacks
                self.assertNotIn(member, cl)
        self.state["cluster_id"] = cl["ClusterId"]
        self.state["az"] = sorted(cl["SubnetMapping"])[0]

    def test_04_create_hsm(self):
        cid, az = self.need("cluster_id", "az")
        hsm = self.aws_json("create-hsm", "--cluster-id", cid, "--availability-zone", az)["Hsm"]
        self.assertRegex(hsm["HsmId"], r"^hsm-[a-z2-7]{11}$")
        self.assertEqual((hsm["ClusterId"], hsm["AvailabilityZone"], hsm["State"]), (cid, az, "CREATE_IN_PROGRESS"))
        self.state["hsm_id"] = hsm["HsmId"]

    def test_05_get_csr(self):
        cid = self.need("cluster_id")
        # As the user guide does it: --query … --output text into a file (polled: the CSR appears
        # once the HSM is ACTIVE).
        argv = [self.AWS, "--endpoint-url", ENDPOINT, "--region", REGION, "cloudhsmv2", "describe-clusters",
                "--filters", "clusterIds=" + cid, "--query", "Clusters[0].Certificates.ClusterCsr", "--output", "text"]
        deadline = time.monotonic() + 10
        while True:
            res = run(argv, cwd=self.dir)
            self.assertEqual(res.returncode, 0, res.stderr)
            csr = res.stdout.strip()
            if csr != "None" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(csr.startswith("-----BEGIN CERTIFICATE REQUEST-----"), csr[:200])
        self.assertTrue(csr.endswith("-----END CERTIFICATE REQUEST-----"), csr[-200:])
        with open(os.path.join(self.dir, "ClusterCsr.csr"), "w") as f:
            f.write(res.stdout)
        self.state["csr"] = True

    def test_06_sign_and_initialize(self):
        cid, _ = self.need("cluster_id", "csr")
        self.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "customerCA.key",
                     "-out", "customerCA.crt", "-days", "3652", "-subj", "/CN=compat customer CA")
        self.openssl("req", "-in", "ClusterCsr.csr", "-noout", "-verify")
        self.openssl("x509", "-req", "-days", "3652", "-in", "ClusterCsr.csr", "-CA", "customerCA.crt",
                     "-CAkey", "customerCA.key", "-CAcreateserial", "-out", "CustomerHsmCertificate.crt")
        out = self.aws_json("initialize-cluster", "--cluster-id", cid,
                            "--signed-cert", "file://CustomerHsmCertificate.crt",
                            "--trust-anchor", "file://customerCA.crt")
        self.assertEqual(out["State"], "INITIALIZE_IN_PROGRESS")
        self.state["initialized"] = True

    def test_07_activate_with_curl(self):
        cid, _ = self.need("cluster_id", "initialized")
        status, body = curl_admin("POST", "clusters/%s/activate" % cid)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["Cluster"]["State"], "ACTIVE")
        self.state["active"] = True

    def test_08_describe_backups(self):
        cid, _ = self.need("cluster_id", "active")
        backups = self.aws_json("describe-backups")["Backups"]
        self.assertEqual(len(backups), 1, backups)
        b = backups[0]
        self.assertEqual(b["BackupState"], "READY")
        self.assertEqual(b["ClusterId"], cid)
        if "BackupArn" in self.backup_members:
            self.assertEqual(b["BackupArn"], "arn:aws:cloudhsm:%s:%s:backup/%s" % (REGION, ACCOUNT, b["BackupId"]))
        self.assertIs(b["NeverExpires"], False)
        self.assertEqual(b["TagList"], [])
        self.assertNotIn("DeleteTimestamp", b)
        created = parse_cli_time(b["CreateTimestamp"])
        self.assertLess(abs(created - server_now()), datetime.timedelta(seconds=60))
        self.state["backup"] = b

    def test_09_delete_backup(self):
        b = self.need("backup")
        before = server_now()
        out = self.aws_json("delete-backup", "--backup-id", b["BackupId"])["Backup"]
        self.assertEqual((out["BackupId"], out["BackupState"]), (b["BackupId"], "PENDING_DELETION"))
        delete_at = parse_cli_time(out["DeleteTimestamp"])
        self.assertLess(abs(delete_at - (before + datetime.timedelta(days=7))), datetime.timedelta(seconds=30))
        self.state["deleted"] = True

    def test_10_restore_backup(self):
        b, _ = self.need("backup", "deleted")
        out = self.aws_json("restore-backup", "--backup-id", b["BackupId"])
        self.assertEqual(set(out), {"Backup"})
        restored = out["Backup"]
        keys = RESTORED_BACKUP_KEYS & self.backup_members  # what this CLI can show
        self.assertEqual(set(restored), keys, restored)
        self.assertNotIn("DeleteTimestamp", restored)
        expected = {k: b[k] for k in keys}
        expected["BackupState"] = "READY"
        self.assertEqual(restored, expected)

    def test_11_restore_ready_backup_fails(self):
        b = self.need("backup")
        res = self.aws_service_error("CloudHsmInvalidRequestException", "restore-backup", "--backup-id", b["BackupId"])
        self.assertIn("RestoreBackup", res.stderr)
        self.assertIn("READY", res.stderr)

    def test_12_restore_unknown_backup_fails(self):
        self.aws_service_error("CloudHsmResourceNotFoundException", "restore-backup", "--backup-id", "backup-aaaaaaaaaaa")

    def test_13_describe_clusters(self):
        cid, hsm_id = self.need("cluster_id", "hsm_id")
        clusters = self.aws_json("describe-clusters")["Clusters"]
        self.assertEqual([c["ClusterId"] for c in clusters], [cid])
        cl = clusters[0]
        self.assertEqual(cl["State"], "ACTIVE")
        self.assertEqual([(h["HsmId"], h["State"]) for h in cl["Hsms"]], [(hsm_id, "ACTIVE")])
        self.assertIn("-----BEGIN CERTIFICATE-----", cl["Certificates"]["ClusterCertificate"])
        self.assertEqual(cl["BackupRetentionPolicy"], {"Type": "DAYS", "Value": "90"})

    def test_14_expiry_with_the_clock_subcommand(self):
        b = self.need("backup")
        self.aws_json("delete-backup", "--backup-id", b["BackupId"])
        if SERVER_BIN:  # the binary's own admin subcommand, flags right after its name
            res = run([SERVER_BIN, "clock", "--endpoint", ENDPOINT, "advance", "192h"])
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("now", json.loads(res.stdout))
        else:
            status, body = curl_admin("POST", "clock", {"advance": "192h"})
            self.assertEqual(status, 200, body)
        listed = self.aws_json("describe-backups", "--filters", "backupIds=" + b["BackupId"])["Backups"]
        self.assertEqual([x["BackupState"] for x in listed], ["DELETED"])
        self.aws_service_error("CloudHsmInvalidRequestException", "restore-backup", "--backup-id", b["BackupId"])


def cli_programs():
    """(label, path) of each distinct AWS CLI to test."""
    found, seen = [], set()
    on_path = shutil.which("aws")
    for label, path in (("aws on PATH", on_path), ("/usr/bin/aws", "/usr/bin/aws")):
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        found.append((label, path))
    return found


def cli_classes(programs):
    classes = []
    for i, (label, path) in enumerate(programs):
        name = "CLIFlow%d_%s" % (i + 1, re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_"))
        classes.append(type(name, (CLIFlow,), {"AWS": path, "LABEL": label, "__module__": __name__}))
    return classes


class CountingResult(unittest.TextTestResult):
    """Counts passing tests; errors in setUpClass count as failures without hiding passes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    global ENDPOINT, SERVER_BIN
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", default=ENDPOINT)
    ap.add_argument("--bin", default=SERVER_BIN, help="cloudhsm-local binary, for its clock subcommand")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    ENDPOINT, SERVER_BIN = args.endpoint.rstrip("/"), args.bin

    missing = [tool for tool in ("curl", "openssl") if shutil.which(tool) is None]
    programs = cli_programs()
    if not any(os.path.realpath(p) == os.path.realpath(CLI_V2) for _, p in programs):
        missing.append("%s (AWS CLI v2: apt-get install awscli)" % CLI_V2)
    if missing:
        print("FATAL: missing %s; the CLI suite cannot run (it is not skipped)." % ", ".join(missing))
        print("cli suite: 0 passed, 1 failed")
        return 1

    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in cli_classes(programs):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout,
                                     resultclass=CountingResult).run(suite)
    bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped)
    passed = result.passed
    print("cli suite took %.1fs" % (time.monotonic() - start))
    print("cli suite: %d passed, %d failed" % (passed, bad))
    return 0 if bad == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
