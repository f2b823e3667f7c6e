package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"
)

// A store that cannot be written — a full disk, a file size limit, files made immutable — fails
// each write with CloudHsmInternalFailureException (500, which SDKs retry), half-writes
// nothing, stays up, and takes writes again once the cause is gone. Reads fail the same way
// while a lifecycle transition is due (it must be applied, which is a write, before anything is
// read; a new cluster's CREATE_IN_PROGRESS → UNINITIALIZED is due at once): serving them from
// the stale state would show a world that contradicts the virtual clock.

// writeProbe creates clusters tagged with unique tokens and sorts them by outcome.
type writeProbe struct {
	t       *testing.T
	c       *cloudhsmv2.Client
	n       int
	acked   map[string]string // cluster -> token
	refused []string          // tokens of requests answered with a 500
}

func newWriteProbe(t *testing.T, url string) *writeProbe {
	return &writeProbe{t: t, acked: map[string]string{}, c: cloudhsmv2.New(cloudhsmv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
	})}
}

// write sends one CreateCluster; it returns the error, which must be nil or a retryable 500.
func (w *writeProbe) write() error {
	w.t.Helper()
	w.n++
	token := fmt.Sprintf("probe-%d", w.n)
	out, err := w.c.CreateCluster(context.Background(), &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{fmt.Sprintf("subnet-%016x", w.n)},
		TagList: tagList(map[string]string{"token": token, "filler": strings.Repeat("x", 200)}),
	})
	if err == nil {
		w.acked[aws.ToString(out.Cluster.ClusterId)] = token
		return nil
	}
	var ae smithy.APIError
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &ae) || ae.ErrorCode() != "CloudHsmInternalFailureException" || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		w.t.Fatalf("a write to an unwritable store: %v; want CloudHsmInternalFailureException (500)", err)
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		w.t.Fatalf("the SDK's default retryer does not retry %v", err)
	}
	w.refused = append(w.refused, token)
	return err
}

// untilRefused writes until the store refuses n writes in a row (at most 2000 tries).
func (w *writeProbe) untilRefused(n int) {
	w.t.Helper()
	inARow := 0
	for range 2000 {
		if w.write() == nil {
			inARow = 0
		} else if inARow++; inARow == n {
			return
		}
	}
	w.t.Fatalf("the store never refused %d writes in a row (%d acknowledged)", n, len(w.acked))
}

// recovers writes (retrying as SDKs do) until one is acknowledged.
func (w *writeProbe) recovers() {
	w.t.Helper()
	for range 10 {
		if w.write() == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatal("writes did not recover")
}

// readDuringOutage reads while the store cannot be written: the answer is either a success or
// the same retryable 500.
func (w *writeProbe) readDuringOutage() string {
	w.t.Helper()
	_, err := w.c.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{})
	if err == nil {
		return "served"
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "CloudHsmInternalFailureException" ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
		w.t.Fatalf("a read while the store cannot be written: %v", err)
	}
	return "refused with a retryable 500 (a transition was due)"
}

// check reads every cluster: each acknowledged one is there with its token; no refused one is.
func (w *writeProbe) check() {
	w.t.Helper()
	found := map[string]string{}
	pages := cloudhsmv2.NewDescribeClustersPaginator(w.c, &cloudhsmv2.DescribeClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			w.t.Fatalf("reading back: %v", err)
		}
		for _, cl := range page.Clusters {
			found[tagMap(cl.TagList)["token"]] = aws.ToString(cl.ClusterId)
		}
	}
	for id, token := range w.acked {
		if found[token] != id {
			w.t.Errorf("acknowledged cluster %s (%s) is missing", id, token)
		}
	}
	for _, token := range w.refused {
		if id, ok := found[token]; ok {
			w.t.Errorf("cluster %s of a refused request (%s) exists", id, token)
		}
	}
	if len(found) != len(w.acked) {
		w.t.Errorf("%d clusters, %d acknowledged", len(found), len(w.acked))
	}
}

// mountExt4 mounts a fresh ext4 file system of sizeMiB on a loop device and returns its
// mount point. It needs root (CAP_SYS_ADMIN), loop devices, mkfs.ext4 and mount, and fails the
// test without them; go test -short leaves the test out.
func mountExt4(t *testing.T, sizeMiB int) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs root to loop-mount a small file system")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root to loop-mount a small file system (CI runs as root); leave this test out with go test -short")
	}
	needTool(t, "mkfs.ext4", "e2fsprogs")
	needTool(t, "mount", "mount")
	needTool(t, "umount", "mount")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"mkfs.ext4", "-q", "-F", "-m", "0", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("cannot make a small file system here (%s: %v: %s); it needs loop devices", strings.Join(cmd, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling %s: %v", dir, err)
				}
				break
			}
		}
	}
	f.Sync()
	return path
}

func TestDiskFullIsARetryableFailure(t *testing.T) {
	mnt := mountExt4(t, 16)
	db := filepath.Join(mnt, "state.db")
	e, stop := startServer(t, "sqlite:"+db, start)
	w := newWriteProbe(t, e.url)
	for range 5 {
		if err := w.write(); err != nil {
			t.Fatalf("before the disk is full: %v", err)
		}
	}

	filler := fill(t, mnt)
	w.untilRefused(5)
	// The server stays up: health answers, and so do reads.
	var h struct{ Status string }
	e.adminCall(http.MethodGet, "health", nil, &h)
	if h.Status != "ok" {
		t.Fatalf("health with a full disk: %+v", h)
	}
	read := w.readDuringOutage()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	w.recovers()
	for range 5 {
		if err := w.write(); err != nil {
			t.Fatalf("after space returned: %v", err)
		}
	}
	w.check()
	stop()
	integrityCheck(t, db)
	t.Logf("disk full: %d writes refused with a retryable 500, none half-written; reads %s; health ok; %d acknowledged before and after, all present; integrity ok",
		len(w.refused), read, len(w.acked))
}

func TestReadOnlyStoreIsARetryableFailure(t *testing.T) {
	mnt := mountExt4(t, 16)
	db := filepath.Join(mnt, "state.db")
	e, stop := startServer(t, "sqlite:"+db, start)
	w := newWriteProbe(t, e.url)
	for range 5 {
		if err := w.write(); err != nil {
			t.Fatalf("before the store is read-only: %v", err)
		}
	}
	// Root ignores file modes, and a file system with open writers cannot be remounted
	// read-only; an immutable file refuses every write, even through descriptors already open.
	files := []string{db, db + "-wal"}
	needTool(t, "chattr", "e2fsprogs")
	chattr := func(flag string) {
		t.Helper()
		if out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput(); err != nil {
			t.Fatalf("chattr %s: %v: %s", flag, err, out)
		}
	}
	chattr("+i")
	t.Cleanup(func() { exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })

	w.untilRefused(5)
	var h struct{ Status string }
	e.adminCall(http.MethodGet, "health", nil, &h)
	if h.Status != "ok" {
		t.Fatalf("health with a read-only store: %+v", h)
	}
	read := w.readDuringOutage()

	chattr("-i")
	w.recovers()
	w.check()
	stop()
	integrityCheck(t, db)
	t.Logf("read-only store: %d writes refused with a retryable 500, none half-written; reads %s; health ok; %d acknowledged, all present; integrity ok",
		len(w.refused), read, len(w.acked))
}

// prlimitFsize sets the soft RLIMIT_FSIZE of another process and returns the old limit.
func prlimitFsize(t *testing.T, pid int, soft uint64) syscall.Rlimit {
	t.Helper()
	var old syscall.Rlimit
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, 0, uintptr(unsafe.Pointer(&old)), 0, 0); errno != 0 {
		t.Fatalf("prlimit(%d): %v", pid, errno)
	}
	set := syscall.Rlimit{Cur: soft, Max: old.Max}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&set)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit(%d, FSIZE=%d): %v", pid, soft, errno)
	}
	return old
}

// TestFileSizeLimit limits how large the real process may make any file (RLIMIT_FSIZE, the
// "ulimit -f" of a quota'd or small disk). Writes past it get EFBIG — the Go runtime ignores
// SIGXFSZ, so the process is not killed — and the store answers 500 until the limit is lifted.
func TestFileSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "state.db")
	p := startProcess(t, bin, "--store", "sqlite:"+db, "--max-clusters", "100000")
	w := newWriteProbe(t, p.url)
	for range 5 {
		if err := w.write(); err != nil {
			t.Fatal(err)
		}
	}
	limit := max(fileSize(db), fileSize(db+"-wal"))
	old := prlimitFsize(t, p.cmd.Process.Pid, uint64(limit))
	w.untilRefused(5)
	select {
	case <-p.exited:
		t.Fatalf("the process died at its file size limit: %s", describeExit(p.state))
	default:
	}
	var h struct{ Status string }
	p.env(t).adminCall(http.MethodGet, "health", nil, &h)
	if h.Status != "ok" {
		t.Fatalf("health at the file size limit: %+v", h)
	}
	read := w.readDuringOutage()

	prlimitFsize(t, p.cmd.Process.Pid, old.Cur)
	w.recovers()
	w.check()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	if p.state.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM: %s", describeExit(p.state))
	}
	integrityCheck(t, db)
	t.Logf("file size limit %d bytes: %d writes refused with a retryable 500 (EFBIG; SIGXFSZ ignored), none half-written; reads %s; health ok; %d acknowledged, all present; integrity ok",
		limit, len(w.refused), read, len(w.acked))
}
