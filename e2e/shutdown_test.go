package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/e2e/internal/netfail"
)

// TestGracefulShutdown sends SIGTERM to a real process under load. Every CreateCluster waits
// 2s in the server (an injected latency) and the workers start 250ms apart, so requests are
// in flight at the signal, most of them with a second or more to go. The
// process stops accepting connections at once, finishes every request it had received, closes
// its store (SQLite removes the WAL on a clean close) and exits 0; after a restart on the same
// file every request that got a 200 is there.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "state.db")
	args := []string{"--store", "sqlite:" + db, "--max-clusters", "100000"}
	p := startProcess(t, bin, args...)
	e := p.env(t)
	e.addFault(t, `{"operation":"CreateCluster","latency":"2s"}`)

	type call struct {
		start, end time.Time
		token      string
		cluster    string
		err        error
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	const workers = 8
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			time.Sleep(time.Duration(w) * 250 * time.Millisecond)
			c := cloudhsmv2.New(cloudhsmv2.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(p.url), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
				HTTPClient:  &http.Client{Timeout: 20 * time.Second},
			})
			for n := 0; ctx.Err() == nil; n++ {
				cl := call{start: time.Now(), token: fmt.Sprintf("w%d-%d", w, n)}
				out, err := c.CreateCluster(context.Background(), &cloudhsmv2.CreateClusterInput{
					HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{fmt.Sprintf("subnet-%08x%08x", w, n)},
					TagList: tagList(map[string]string{"token": cl.token, "worker": fmt.Sprint(w)}),
				})
				cl.end, cl.err = time.Now(), err
				if err == nil {
					cl.cluster = aws.ToString(out.Cluster.ClusterId)
				}
				mu.Lock()
				calls = append(calls, cl)
				mu.Unlock()
				if err != nil {
					return // the server is going away
				}
			}
		})
	}

	time.Sleep(3500 * time.Millisecond)
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil { // our own child, by its PID
		t.Fatal(err)
	}
	// It stops accepting at once, while requests are still in flight.
	time.Sleep(200 * time.Millisecond)
	select {
	case <-p.exited:
		t.Fatal("the process exited before its requests in flight finished")
	default:
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.url, "http://"), time.Second); err == nil {
		conn.Close()
		t.Fatal("the process still accepts connections 200ms after SIGTERM")
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the process did not exit within 15s of SIGTERM (its drain deadline is 10s)")
	}
	exitedAfter := time.Since(sigterm)
	stop()
	wg.Wait()
	if p.state.ExitCode() != 0 {
		t.Fatalf("exit after SIGTERM: %s\n%s", describeExit(p.state), p.stderrText())
	}
	if n := fileSize(db + "-wal"); n != 0 {
		t.Errorf("the WAL holds %d bytes after exit: the store was not closed cleanly", n)
	}

	acked := map[string]string{} // cluster -> token
	unknown := map[string]bool{} // tokens of requests whose answer was lost
	drained, refused, lost := 0, 0, 0
	relative := func(at time.Time) string {
		d := at.Sub(sigterm).Round(time.Millisecond)
		if d < 0 {
			return (-d).String() + " before SIGTERM"
		}
		return d.String() + " after SIGTERM"
	}
	for _, c := range calls {
		switch {
		case c.err == nil:
			acked[c.cluster] = c.token
			if c.end.After(sigterm) {
				drained++
			}
		case !netfail.NoAnswer(c.err):
			// A 500 or any other answer that is an error is what a shutdown that does not drain
			// looks like: only a request with no answer at all may fail.
			t.Errorf("a request sent %s got an error answer, not a refused or closed connection: %v", relative(c.start), c.err)
		case errors.Is(c.err, net.ErrClosed):
			// The SDK closed the connection under its own response (aws/aws-sdk-go-v2#2737): the
			// request may or may not have been applied; it is not acknowledged either way.
			unknown[c.token] = true
			lost++
		case c.start.Before(sigterm.Add(-100 * time.Millisecond)):
			t.Errorf("a request sent %s failed: %v", relative(c.start), c.err)
		default:
			unknown[c.token] = true
			refused++
		}
	}
	if drained < workers/2 {
		t.Fatalf("only %d requests in flight at SIGTERM completed; want most of the %d workers' requests", drained, workers)
	}

	// Every acknowledged request is there after a restart, with its tags; the fault rules were
	// the process's own and are gone.
	p = startProcess(t, bin, args...)
	e = p.env(t)
	if rules := e.listFaults(t); len(rules) != 0 {
		t.Errorf("fault rules survived a restart: %+v", rules)
	}
	c := cloudhsmv2.New(cloudhsmv2.Options{ // retrying only a connection closed under a read (aws/aws-sdk-go-v2#2737)
		Region: "us-east-1", BaseEndpoint: aws.String(p.url), Retryer: netfail.Retryer(5),
		Credentials: credentials.NewStaticCredentialsProvider(account1, "secret", ""),
	})
	found := map[string]string{}
	pages := cloudhsmv2.NewDescribeClustersPaginator(c, &cloudhsmv2.DescribeClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range page.Clusters {
			found[aws.ToString(cl.ClusterId)] = tagMap(cl.TagList)["token"]
		}
	}
	for id, token := range acked {
		if found[id] != token {
			t.Errorf("acknowledged cluster %s (token %s) after restart: %q", id, token, found[id])
		}
	}
	extra := maps.Clone(found)
	maps.DeleteFunc(extra, func(id, token string) bool { _, ok := acked[id]; return ok || unknown[token] })
	if len(extra) > 0 {
		t.Errorf("clusters nobody asked for after restart: %v", extra)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	t.Logf("SIGTERM under load: %d requests acknowledged, all present after restart; %d in flight at the signal finished with 200; "+
		"%d sent after it were refused (%d answers lost by the client); exit 0 after %s; WAL checkpointed and removed",
		len(acked), drained, refused, lost, exitedAfter.Round(time.Millisecond))
}
