package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// TestServeCutsWhatDrainCannotFinish: a request still running when the drain deadline passes
// has its connection closed, and Serve returns at once with the deadline in its error instead
// of leaving the connection (and its goroutines) behind.
func TestServeCutsWhatDrainCannotFinish(t *testing.T) {
	set := faults.New(nil)
	if _, err := set.Add(faults.Rule{Operation: "DescribeBackups", Latency: faults.MaxLatency.String()}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(t.Context(), Config{Store: "memory", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(), Faults: set})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, 50*time.Millisecond) }()

	answered := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "BaldrApiService.DescribeBackups")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	for set.List()[0].Applied == 0 { // the request is waiting out its injected latency
		time.Sleep(time.Millisecond)
	}
	stop()
	select {
	case err := <-served:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve = %v, want the drain deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still waits for a request 10 s after its 50 ms drain deadline")
	}
	if err := <-answered; err == nil {
		t.Error("the request cut at the drain deadline got an answer")
	}
}
