package replicas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// start is the wall time of the in-process replicas' shared manual clock.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// account is the account every test works in (a 12-digit access key is the account).
const account = "111122223333"

// replicaConns is each replica's pool size in tests: three replicas and the test's own
// connections stay far below the server's max_connections, which other tests share.
const replicaConns = "6"

// replica is one server of a fleet.
type replica struct {
	name  string
	url   string
	admin admin.Client
	api   *cloudhsmv2.Client
}

// fleet is several replicas on one database.
type fleet struct {
	place    pgtest.Place
	pg       *pgtest.Server
	clock    *clock.Manual // the wall clock all the replicas share
	replicas []*replica
}

// fleetOptions tweak a fleet.
type fleetOptions struct {
	lifecycle func(*lifecycle.Config)
	ownRole   bool // connect as a role of the test's own, which can be cut off (pgtest.Role)
}

// newFleet starts n in-process replicas on a fresh schema, all on one manual wall clock, each
// behind its own httptest server on 127.0.0.1.
func newFleet(t *testing.T, n int, opts fleetOptions) *fleet {
	t.Helper()
	pg := pgtest.Connect(t)
	place := pg.Schema
	if opts.ownRole {
		place = pg.Role
	}
	f := &fleet{pg: pg, place: place(t), clock: clock.NewManual(start)}
	life, svc := lifecycle.DefaultConfig(), service.DefaultConfig()
	svc.MaxClusters = 10_000
	if opts.lifecycle != nil {
		opts.lifecycle(&life)
	}
	for i := range n {
		srv, err := server.New(t.Context(), server.Config{
			Store: f.place.DSN("pool_max_conns", replicaConns), DefaultRegion: "us-east-1",
			Lifecycle: life, Service: svc, Clock: f.clock,
		})
		if err != nil {
			t.Fatalf("start replica %d: %v", i, err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(func() {
			hs.Close()
			if err := srv.Close(); err != nil {
				t.Errorf("close replica %d: %v", i, err)
			}
		})
		f.replicas = append(f.replicas, newReplica(fmt.Sprintf("replica-%c", 'A'+i), hs.URL))
	}
	return f
}

// newReplica builds the clients of a server at url.
func newReplica(name, url string) *replica {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	r := &replica{name: name, url: url, admin: admin.Client{Endpoint: url, HTTP: hc}}
	return r.as(account)
}

// as returns r with an API client that calls as another account (over the same connections).
func (r *replica) as(acct string) *replica {
	other := *r
	other.api = cloudhsmv2.New(cloudhsmv2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(r.url),
		Credentials:      credentials.NewStaticCredentialsProvider(acct, "x", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       r.admin.HTTP,
	})
	return &other
}

// adminCall calls a replica's admin API and decodes the answer into out (if not nil).
func (r *replica) adminCall(t testing.TB, method, path string, body, out any) {
	t.Helper()
	raw, err := r.admin.Call(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s: admin %s %s: %v", r.name, method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: admin %s %s: decode %s: %v", r.name, method, path, raw, err)
		}
	}
}

// now reads a replica's virtual clock.
func (r *replica) now(t testing.TB) time.Time {
	t.Helper()
	var c admin.Clock
	r.adminCall(t, http.MethodGet, "clock", nil, &c)
	now, err := time.Parse(time.RFC3339Nano, c.Now)
	if err != nil {
		t.Fatalf("%s: clock %q: %v", r.name, c.Now, err)
	}
	return now
}

// advance moves the virtual clock through a replica's admin API.
func (r *replica) advance(t testing.TB, d time.Duration) time.Time {
	t.Helper()
	var c admin.Clock
	r.adminCall(t, http.MethodPost, "clock", admin.ClockChange{Advance: d.String()}, &c)
	now, err := time.Parse(time.RFC3339Nano, c.Now)
	if err != nil {
		t.Fatalf("%s: clock %q: %v", r.name, c.Now, err)
	}
	return now
}

// apiError returns the error code and HTTP status of an SDK error ("" and 0 when err is not
// an API error).
func apiError(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// wantAPIError fails the test unless err is the named API error with the status.
func wantAPIError(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: want %s, got success", what, code)
	}
	if c, s := apiError(err); c != code || s != status {
		t.Fatalf("%s: want %s (HTTP %d), got %s (HTTP %d): %v", what, code, status, c, s, err)
	}
}

// process is a replica running as a real cloudhsm-local process.
type process struct {
	*replica
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	addr   chan string // the serving address, once logged
}

// buildBinary builds cloudhsm-local once per test into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cloudhsm-local")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cloudhsm-local")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cloudhsm-local: %v\n%s", err, out)
	}
	return bin
}

// servingAddr finds the listening address in the server's start-up log line.
var servingAddr = regexp.MustCompile(`msg="cloudhsm-local serving" addr=(127\.0\.0\.1:\d+)`)

// startProcess starts `cloudhsm-local serve` on a free loopback port with the given store;
// call serving to wait until it answers. The process is killed (if still running) when the
// test ends.
func startProcess(t *testing.T, bin, name, dsn string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--store", dsn, "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() { // flags only: no CLOUDHSM_LOCAL_* twin of the caller's
		if !strings.HasPrefix(kv, "CLOUDHSM_LOCAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{replica: &replica{name: name}, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{}), addr: make(chan string, 1)}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteLine(line)
			if m := servingAddr.FindStringSubmatch(line); m != nil && !found {
				found = true
				p.addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL) // our own child, by its PID
		<-p.exited
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// serving waits until the process has logged its address, and points its clients there.
func (p *process) serving(t *testing.T) {
	t.Helper()
	select {
	case a := <-p.addr:
		p.replica = newReplica(p.name, "http://"+a)
	case <-p.exited:
		t.Fatalf("%s exited before serving:\n%s", p.name, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start serving within 30s:\n%s", p.name, p.stderr.String())
	}
}

// kill sends SIGKILL to the process and waits until it is gone.
func (p *process) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// lockedBuffer collects a process's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
	b.buf.WriteByte('\n')
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
