package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// start is the wall time of in-process test servers.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// runCmd runs the command line and returns its exit status, stdout and stderr.
// startAdminServer serves a fresh memory store on loopback (on clk, or the real clock if nil)
// and returns an environment whose CLOUDHSM_LOCAL_ENDPOINT points the subcommands at it.
func startAdminServer(t *testing.T, clk clock.Clock) func(string) string {
	t.Helper()
	srv, err := server.New(context.Background(), server.Config{
		Store: "memory", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(), Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return env(map[string]string{"CLOUDHSM_LOCAL_ENDPOINT": hs.URL})
}

// runJSON runs a subcommand that must succeed and print one indented JSON object, and decodes it.
func runJSON(t *testing.T, ctx context.Context, getenv func(string) string, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := runCmd(ctx, getenv, args...)
	if code != 0 {
		t.Fatalf("%q: exit %d, stderr %q", args, code, stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%q: stdout is not JSON: %q", args, stdout)
	}
	if !strings.HasPrefix(stdout, "{\n  \"") || !strings.HasSuffix(stdout, "}\n") {
		t.Fatalf("%q: stdout is not indented JSON: %q", args, stdout)
	}
	return out
}

func runCmd(ctx context.Context, getenv func(string) string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, getenv, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestParseServe(t *testing.T) {
	topo := filepath.Join(t.TempDir(), "topology.json")
	if err := os.WriteFile(topo, []byte(`{"subnets":{"subnet-0a1b2c3d4e5f60001":{"vpc":"vpc-0123456789abcdef0","az":"eu-west-1a"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	defaults := func() serveConfig {
		return serveConfig{addr: "127.0.0.1:4580", server: server.Config{
			Store: "sqlite:cloudhsm-local.db", Durability: sqlstore.DurabilityProcess, DefaultRegion: "us-east-1",
			Lifecycle: func() lifecycle.Config {
				l := lifecycle.DefaultConfig()
				l.Delays = map[lifecycle.Transition]time.Duration{}
				return l
			}(),
			Service: service.DefaultConfig(), History: 1000,
		}}
	}
	custom := func() serveConfig {
		c := defaults()
		c.addr, c.server.Store, c.server.DefaultRegion = "127.0.0.1:0", "sqlite:/tmp/x.db", "eu-west-1"
		c.server.Durability = sqlstore.DurabilityFsync
		c.server.Lifecycle.DefaultDelay = 2 * time.Second
		c.server.Lifecycle.Delays = map[lifecycle.Transition]time.Duration{lifecycle.BackupCreate: 5 * time.Second, lifecycle.HSMCreate: time.Minute}
		c.server.Lifecycle.PendingDeletion, c.server.Lifecycle.Tombstone, c.server.Lifecycle.AutoActivate = 48*time.Hour, time.Hour, true
		c.server.Service.MaxClusters, c.server.Service.MaxHSMsPerCluster = 3, 2
		c.server.History = 50
		return c
	}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		want  serveConfig
		debug bool // whether the logger logs at debug level
	}{
		{"defaults", nil, nil, defaults(), false},
		{"flags", []string{
			"--addr", "127.0.0.1:0", "--store", "sqlite:/tmp/x.db", "--durability", "fsync", "--region", "eu-west-1", "--delay", "2s",
			"--delays", "backup-create=5s, hsm-create=1m", "--pending-deletion", "48h", "--tombstone", "1h",
			"--auto-activate", "--max-clusters", "3", "--max-hsms", "2", "--log-level", "debug", "--history", "50",
		}, nil, custom(), true},
		{"environment twins", nil, map[string]string{
			"CLOUDHSM_LOCAL_ADDR": "127.0.0.1:0", "CLOUDHSM_LOCAL_STORE": "sqlite:/tmp/x.db", "CLOUDHSM_LOCAL_DURABILITY": "fsync", "CLOUDHSM_LOCAL_REGION": "eu-west-1",
			"CLOUDHSM_LOCAL_DELAY": "2s", "CLOUDHSM_LOCAL_DELAYS": "backup-create=5s,hsm-create=1m",
			"CLOUDHSM_LOCAL_PENDING_DELETION": "48h", "CLOUDHSM_LOCAL_TOMBSTONE": "1h", "CLOUDHSM_LOCAL_AUTO_ACTIVATE": "true",
			"CLOUDHSM_LOCAL_MAX_CLUSTERS": "3", "CLOUDHSM_LOCAL_MAX_HSMS": "2", "CLOUDHSM_LOCAL_LOG_LEVEL": "debug",
			"CLOUDHSM_LOCAL_HISTORY": "50",
		}, custom(), true},
		{"a flag wins over its twin", []string{"--store", "memory"}, map[string]string{"CLOUDHSM_LOCAL_STORE": "sqlite:/elsewhere.db"}, func() serveConfig {
			c := defaults()
			c.server.Store = "memory"
			return c
		}(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseServe(tt.args, env(tt.env), &stderr)
			if err != nil {
				t.Fatalf("parseServe: %v (%s)", err, stderr.String())
			}
			if got.server.Logger == nil {
				t.Fatal("no logger")
			}
			if debug := got.server.Logger.Enabled(context.Background(), slog.LevelDebug); debug != tt.debug {
				t.Errorf("debug logging enabled = %t, want %t", debug, tt.debug)
			}
			got.server.Logger = nil
			if gotS, wantS := jsonOf(t, got), jsonOf(t, tt.want); gotS != wantS {
				t.Errorf("config\n%s\nwant\n%s", gotS, wantS)
			}
		})
	}

	t.Run("topology file from the environment", func(t *testing.T) {
		got, err := parseServe(nil, env(map[string]string{"CLOUDHSM_LOCAL_TOPOLOGY": topo}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if sub, ok := got.server.Service.Topology.Lookup("subnet-0a1b2c3d4e5f60001"); !ok || sub.AvailabilityZone != "eu-west-1a" {
			t.Fatalf("topology not loaded: %+v %t", sub, ok)
		}
	})
}

// jsonOf renders a config for comparison (unexported fields of nested types are skipped, which
// is fine: every field we set is exported).
func jsonOf(t *testing.T, c serveConfig) string {
	t.Helper()
	raw, err := json.Marshal(struct {
		Addr   string
		Server server.Config
	}{c.addr, c.server})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestServeRejectsBadSettings: every bad flag or twin is a usage error (exit 2) named on
// stderr, before anything is opened or listened on.
func TestServeRejectsBadSettings(t *testing.T) {
	// Should a row parse after all, the server stops at once instead of blocking the test.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	safe := []string{"--addr", "127.0.0.1:0", "--store", "memory"}
	badSeed := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(badSeed, []byte(`{"Fixture":1,"Clusters":[{"Name":"a","Backups":[{"Age":"-1d"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		message string
	}{
		{"unknown transition in --delays", []string{"--delays", "backup-make=5s"}, nil, `--delays: "backup-make=5s" is not name=duration`},
		{"--delays without a duration", []string{"--delays", "backup-create"}, nil, `--delays: "backup-create" is not name=duration`},
		{"--delays with a bad duration", []string{"--delays", "backup-create=soon"}, nil, `--delays: backup-create: "soon" is not a non-negative duration`},
		{"--delays with a negative duration", []string{"--delays", "hsm-create=-1s"}, nil, `--delays: hsm-create: "-1s" is not a non-negative duration`},
		{"bad CLOUDHSM_LOCAL_DELAYS", nil, map[string]string{"CLOUDHSM_LOCAL_DELAYS": "x=1s"}, `--delays: "x=1s"`},
		{"negative --delay", []string{"--delay", "-1s"}, nil, "--delay: -1s is negative"},
		{"negative --pending-deletion", []string{"--pending-deletion", "-1h"}, nil, "--pending-deletion: -1h0m0s is negative"},
		{"zero --max-clusters", []string{"--max-clusters", "0"}, nil, "--max-clusters and --max-hsms must be at least 1"},
		{"negative --history", []string{"--history", "-1"}, nil, "--history must be from 0 (off) to 10000 requests, got -1"},
		{"--history over the most kept", []string{"--history", "10001"}, nil, "--history must be from 0 (off) to 10000 requests, got 10001"},
		{"bad --log-level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad --log-format", []string{"--log-format", "xml"}, nil, `--log-format: "xml" is neither text nor json`},
		{"unknown --durability", []string{"--durability", "sometimes"}, nil, `--durability: durability "sometimes": want process or fsync`},
		{"unknown flag", []string{"--colour"}, nil, "flag provided but not defined: -colour"},
		{"an argument", []string{"now"}, nil, `serve takes no arguments, got ["now"]`},
		{"a twin that does not parse", nil, map[string]string{"CLOUDHSM_LOCAL_MAX_HSMS": "many"}, `CLOUDHSM_LOCAL_MAX_HSMS="many"`},
		{"a missing topology file", []string{"--topology", filepath.Join(t.TempDir(), "none.json")}, nil, "read topology file"},
		{"a missing --seed file", []string{"--seed", filepath.Join(t.TempDir(), "none.json")}, nil, "--seed: open"},
		{"a --seed fixture refused", []string{"--seed", badSeed}, nil, "the fixture is refused: $.Clusters[0].Backups[0].Age: -1d is in the future"},
		{"a CLOUDHSM_LOCAL_SEED fixture refused", nil, map[string]string{"CLOUDHSM_LOCAL_SEED": badSeed}, "the fixture is refused: $.Clusters[0].Backups[0].Age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"serve"}, safe...), tt.args...)
			code, stdout, stderr := runCmd(ctx, env(tt.env), args...)
			if code != 2 || !strings.Contains(stderr, tt.message) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.message)
			}
			if stdout != "" {
				t.Fatalf("stdout %q", stdout)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	ctx := context.Background()
	t.Run("an unknown command is exit 2", func(t *testing.T) {
		code, _, stderr := runCmd(ctx, env(nil), "frobnicate")
		if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) || !strings.Contains(stderr, "usage:") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("help prints the usage", func(t *testing.T) {
		code, stdout, _ := runCmd(ctx, env(nil), "help")
		if code != 0 || !strings.HasPrefix(stdout, "usage:") {
			t.Fatalf("exit %d, stdout %q", code, stdout)
		}
	})
	t.Run("serve -h lists the flags and exits 0", func(t *testing.T) {
		code, _, stderr := runCmd(ctx, env(nil), "serve", "-h")
		if code != 0 || !strings.Contains(stderr, "-delays") || !strings.Contains(stderr, "backup-create") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("admin subcommands with wrong arguments are exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"activate"}, {"activate", "a", "b"}, {"take-backup"}, {"health", "now"}, {"reset", "all"},
			{"clock", "advance"}, {"clock", "back", "1h"}, {"clock", "set"}, {"health", "--port", "1"},
		} {
			code, stdout, stderr := runCmd(ctx, env(nil), args...)
			if code != 2 || stdout != "" || stderr == "" {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and a message", args, code, stdout, stderr)
			}
		}
	})
	t.Run("an unreachable server is exit 1", func(t *testing.T) {
		hs := httptest.NewServer(http.NotFoundHandler())
		url := hs.URL
		hs.Close()
		code, _, stderr := runCmd(ctx, env(nil), "health", "--endpoint", url)
		if code != 1 || !strings.Contains(stderr, "cannot reach cloudhsm-local at "+url) {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
}

// TestAdminSubcommands drives a real server, started in-process, with every admin subcommand.
func TestAdminSubcommands(t *testing.T) {
	ctx := context.Background()
	getenv := startAdminServer(t, clock.NewManual(start))
	endpoint := getenv("CLOUDHSM_LOCAL_ENDPOINT")
	// cmd runs a subcommand that must succeed and print one indented JSON object.
	cmd := func(t *testing.T, args ...string) map[string]any { return runJSON(t, ctx, getenv, args...) }
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }

	t.Run("health", func(t *testing.T) {
		out := cmd(t, "health")
		want := map[string]any{"status": "ok", "store": "memory", "version": server.Version, "now": rfc(start), "faults": 0}
		if jsonString(out) != jsonString(want) {
			t.Fatalf("health %v, want %v", out, want)
		}
	})
	t.Run("health with --endpoint instead of the environment", func(t *testing.T) {
		code, stdout, stderr := runCmd(ctx, env(nil), "health", "--endpoint", endpoint+"/")
		if code != 0 || !strings.Contains(stdout, `"status": "ok"`) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("clock", func(t *testing.T) {
		if out := cmd(t, "clock"); out["now"] != rfc(start) {
			t.Fatalf("clock %v", out)
		}
	})
	t.Run("clock advance 168h", func(t *testing.T) {
		if out := cmd(t, "clock", "advance", "168h"); out["now"] != rfc(start.Add(168*time.Hour)) {
			t.Fatalf("clock advance %v", out)
		}
	})
	later := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	t.Run("clock set", func(t *testing.T) {
		if out := cmd(t, "clock", "set", rfc(later)); out["now"] != rfc(later) {
			t.Fatalf("clock set %v", out)
		}
		if out := cmd(t, "clock"); out["now"] != rfc(later) {
			t.Fatalf("clock after set %v", out)
		}
	})
	t.Run("clock set into the past fails with the server's reason", func(t *testing.T) {
		code, stdout, stderr := runCmd(ctx, getenv, "clock", "set", rfc(start))
		if code != 1 || stdout != "" || !strings.Contains(stderr, "HTTP 409") || !strings.Contains(stderr, "only moves forward") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})

	clusterID := initializedCluster(t, endpoint, later)
	t.Run("activate", func(t *testing.T) {
		out := cmd(t, "activate", clusterID)
		cl, _ := out["Cluster"].(map[string]any)
		if cl["ClusterId"] != clusterID || cl["State"] != "ACTIVE" {
			t.Fatalf("activate printed %v", out)
		}
		code, _, stderr := runCmd(ctx, getenv, "activate", clusterID)
		if code != 1 || !strings.Contains(stderr, "HTTP 409") {
			t.Fatalf("second activate: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("take-backup", func(t *testing.T) {
		out := cmd(t, "take-backup", clusterID)
		b, _ := out["Backup"].(map[string]any)
		if len(out) != 1 || b["ClusterId"] != clusterID || !strings.HasPrefix(b["BackupId"].(string), "backup-") {
			t.Fatalf("take-backup printed %v", out)
		}
		code, _, stderr := runCmd(ctx, getenv, "take-backup", "cluster-aaaaaaaaaaa")
		if code != 1 || !strings.Contains(stderr, "HTTP 404") {
			t.Fatalf("take-backup of an unknown cluster: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("reset", func(t *testing.T) {
		if out := cmd(t, "reset"); jsonString(out) != `{"now":"`+rfc(later)+`","status":"reset"}` {
			t.Fatalf("reset printed %v", out)
		}
		code, _, stderr := runCmd(ctx, getenv, "activate", clusterID)
		if code != 1 || !strings.Contains(stderr, "HTTP 404") {
			t.Fatalf("activate after reset: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("reset --clock returns to real time", func(t *testing.T) {
		if out := cmd(t, "reset", "--clock"); jsonString(out) != `{"now":"`+rfc(start)+`","status":"reset"}` {
			t.Fatalf("reset --clock printed %v", out)
		}
		if out := cmd(t, "clock"); out["now"] != rfc(start) {
			t.Fatalf("clock after reset --clock %v", out)
		}
	})
}

func jsonString(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// initializedCluster makes an INITIALIZED cluster through the SDK: create, add an HSM, sign its
// CSR with a fresh CA valid at now, initialize.
func initializedCluster(t *testing.T, endpoint string, now time.Time) string {
	t.Helper()
	ctx := context.Background()
	c := cloudhsmv2.New(cloudhsmv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("111122223333", "secret", ""),
	})
	created, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0a1b2c3d4e5f60001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := created.Cluster.ClusterId
	if _, err := c.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: id, AvailabilityZone: aws.String("us-east-1a")}); err != nil {
		t.Fatal(err)
	}
	described, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {*id}}})
	if err != nil || len(described.Clusters) != 1 || described.Clusters[0].Certificates == nil {
		t.Fatalf("DescribeClusters: %+v %v", described, err)
	}
	cert, anchor, err := customerca.SignCSR(aws.ToString(described.Clusters[0].Certificates.ClusterCsr), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{ClusterId: id, SignedCert: &cert, TrustAnchor: &anchor}); err != nil {
		t.Fatalf("InitializeCluster: %v", err)
	}
	return *id
}

// TestServeShutsDownGracefully starts the real serve command, waits until it listens, calls
// it, then cancels its context: run returns 0.
func TestServeShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory"}, env(nil), io.Discard, logW)
		logW.Close()
		done <- code
	}()

	addrc := make(chan string, 1)
	go func() {
		addrPattern := regexp.MustCompile(`msg="cloudhsm-local serving" addr=(\S+)`)
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			if m := addrPattern.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		close(addrc)
	}()

	var addr string
	select {
	case a, ok := <-addrc:
		if !ok {
			t.Fatalf("serve exited before listening: %d", <-done)
		}
		addr = a
	case code := <-done:
		t.Fatalf("serve exited with %d before listening", code)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not log its address within 30s")
	}
	resp, err := http.Get("http://" + addr + "/_cloudhsm-local/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Status, Store string }
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.Status != "ok" || h.Store != "memory" {
		t.Fatalf("health: %+v %v", h, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve returned %d after cancellation, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30s of cancellation")
	}
	if _, err := http.Get("http://" + addr + "/_cloudhsm-local/health"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
}

// TestServeRefusesDurabilityTheStoreCannotGive: a valid --durability that the store cannot
// honour stops the server at start, with the reason, before it listens.
func TestServeRefusesDurabilityTheStoreCannotGive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // should the server start after all, it stops at once
	code, _, stderr := runCmd(ctx, env(nil), "serve", "--addr", "127.0.0.1:0", "--store", "memory", "--durability", "fsync")
	if code == 0 || !strings.Contains(stderr, "durability fsync needs a store on disk") {
		t.Fatalf("exit %d, stderr %q; want a failure naming the durability", code, stderr)
	}
}
