package e2e

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", for integrity checks
)

// buildBinary builds cmd/cloudhsm-local into a temporary directory (without -race: the server
// under test is the one users run).
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cloudhsm-local")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cloudhsm-local")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cloudhsm-local: %v\n%s", err, out)
	}
	return bin
}

// needTool fails the test unless command is on PATH, naming the Debian package that has it.
func needTool(t *testing.T, command, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(command); err != nil {
		t.Fatalf("%s is not on PATH: install it (apt-get install %s; .ci/run does when it is missing), or leave this test out with go test -short", command, debianPackage)
	}
}

// process is a running cloudhsm-local binary.
type process struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed when the process has exited
	state  *os.ProcessState
	mu     sync.Mutex
	log    strings.Builder // stderr
}

var servingAddr = regexp.MustCompile(`msg="cloudhsm-local serving" addr=(\S+)`)

// startProcess runs "cloudhsm-local serve --addr 127.0.0.1:0 ARGS..." and waits until it
// listens. The process is killed (SIGKILL, by its PID) at cleanup if still running.
func startProcess(t testing.TB, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() { // no CLOUDHSM_LOCAL_* of the caller's
		if !strings.HasPrefix(kv, "CLOUDHSM_LOCAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-scanned // Wait must not run before the pipe is drained
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("cloudhsm-local (pid %d) stderr:\n%s", cmd.Process.Pid, p.stderrText())
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		t.Fatalf("cloudhsm-local exited before listening (%v):\n%s", p.state, p.stderrText())
	case <-time.After(30 * time.Second):
		t.Fatalf("cloudhsm-local did not listen within 30s:\n%s", p.stderrText())
	}
	return p
}

func (p *process) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL to the process (our own child, by PID) and waits for it to exit.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// env returns an env for driving the process with the SDK and the admin client.
func (p *process) env(t *testing.T) *env {
	return &env{t: t, url: p.url, admin: admin.Client{Endpoint: p.url}}
}

// integrityCheck opens a SQLite file read-only and runs PRAGMA integrity_check, which must
// answer the single row "ok".
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check of %s: %v", path, err)
	}
	defer rows.Close()
	var results []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		results = append(results, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check of %s: %v", path, err)
	}
	if len(results) != 1 || results[0] != "ok" {
		t.Fatalf("integrity_check of %s: %s", path, strings.Join(results, "; "))
	}
}

// fileSize is the size of a file, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func describeExit(s *os.ProcessState) string {
	if s == nil {
		return "still running"
	}
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by %s", ws.Signal())
	}
	return fmt.Sprintf("exit status %d", s.ExitCode())
}
