package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// serveWithLimits runs a server the way the binary does (Server.Serve on a TCP listener, so the
// HTTP limits apply) on a memory store, and returns its env.
func serveWithLimits(t *testing.T, limits server.HTTPLimits) *env {
	t.Helper()
	srv, err := server.New(context.Background(), server.Config{
		Store: "memory", DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(),
		Clock: clock.NewManual(start), HTTP: limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	url := "http://" + ln.Addr().String()
	return &env{t: t, url: url, admin: admin.Client{Endpoint: url}}
}

// TestHostileInputIsCapped: no request can make the server use unbounded memory or time, and
// every cap says what it is in its error.
func TestHostileInputIsCapped(t *testing.T) {
	e := serveWithLimits(t, server.HTTPLimits{})
	ids := func(prefix string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			id := []byte("aaaaaaaaaaa")
			for j, v := len(id)-1, i; v > 0; j, v = j-1, v/26 {
				id[j] = byte('a' + v%26)
			}
			parts[i] = `"` + prefix + "-" + string(id) + `"`
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name, target, body string
		header             map[string]string
		wantStatus         int
		wantType, wantMsg  string
	}{
		{name: "a body over 1 MiB", target: "DescribeBackups", body: `{"NextToken":"` + strings.Repeat("a", 1<<20) + `"}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "Request body is larger than the limit of 1048576 bytes (1 MiB)"},
		{name: "headers over 64 KiB", target: "DescribeBackups", body: `{}`, header: map[string]string{"X-Padding": strings.Repeat("p", 70<<10)},
			wantStatus: 431},
		{name: "a filter of 40000 backup IDs (once a 500: too many SQL variables)", target: "DescribeBackups", body: `{"Filters":{"backupIds":` + ids("backup", 40000) + `}}`,
			wantStatus: 400, wantType: "SerializationException",
			wantMsg: "Request body has more than 10000 elements in its arrays and objects (a cloudhsm-local limit on every request)"},
		{name: "a filter of 1001 backup IDs", target: "DescribeBackups", body: `{"Filters":{"backupIds":` + ids("backup", 1001) + `}}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException",
			wantMsg: "1 validation error detected: Value '[backup-aaaaaaaaaaa, backup-aaaaaaaaaab, backup-aaaaaaaaaac, ... 998 more]' at 'filters.backupIds' failed to satisfy constraint: Member must have length less than or equal to 1000 (a cloudhsm-local limit on every list)"},
		{name: "a filter of 1001 cluster IDs", target: "DescribeClusters", body: `{"Filters":{"clusterIds":` + ids("cluster", 1001) + `}}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException", wantMsg: "at 'filters.clusterIds' failed to satisfy constraint: Member must have length less than or equal to 1000"},
		{name: "a Filters map of 1001 keys", target: "DescribeClusters", body: `{"Filters":{` + strings.Join(strings.Split(strings.Trim(ids("k", 1001), "[]"), ","), ":[],") + `:[]}}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException", wantMsg: "...' at 'filters' failed to satisfy constraint: Member must have length less than or equal to 30"},
		{name: "a filter of 1000 values is fine", target: "DescribeBackups", body: `{"Filters":{"backupIds":` + ids("backup", 1000) + `,"clusterIds":` + ids("cluster", 1000) + `,"sourceBackupIds":` + ids("backup", 1000) + `}}`,
			wantStatus: 200},
		{name: "JSON nested 100000 deep", target: "DescribeBackups", body: `{"Filters":{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`,
			wantStatus: 400, wantType: "SerializationException", wantMsg: "exceeded max depth"},
		{name: "a 20000-character tag value", target: "TagResource", body: `{"ResourceId":"cluster-abcdefghijk","TagList":[{"Key":"k","Value":"` + strings.Repeat("v", 20000) + `"}]}`,
			wantStatus: 400, wantType: "CloudHsmInvalidRequestException", wantMsg: "Member must have length less than or equal to 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			status, typ, body := e.rawCall(tt.target, tt.body, tt.header)
			if status != tt.wantStatus || typ != tt.wantType || !strings.Contains(body, tt.wantMsg) {
				if len(body) > 600 {
					body = body[:600] + "..."
				}
				t.Fatalf("HTTP %d %s %s\nwant %d %s containing %q", status, typ, body, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}

	// The admin API: a clock move of centuries would apply every day in one transaction.
	for _, body := range []string{`{"advance":"2562047h"}`, `{"set":"9999-12-31T00:00:00Z"}`} {
		status, out := e.adminRaw(http.MethodPost, "clock", body)
		if status != 400 || !strings.Contains(out, "the clock moves at most 87840h0m0s (ten years) at a time") {
			t.Errorf("POST clock %s: %d %s", body, status, out)
		}
	}
	if status, out := e.adminRaw(http.MethodPost, "clock", `{"advance":"87840h"}`); status != 200 {
		t.Errorf("a move of exactly ten years: %d %s", status, out)
	}
	if status, out := e.adminRaw(http.MethodPost, "faults", `{"operation":"`+strings.Repeat("x", 100<<10)+`"}`); status != 400 || !strings.Contains(out, "request body too large") {
		t.Errorf("an admin body over 64 KiB: %d %.200s", status, out)
	}
}

// TestSlowClientsAreCutOff: clients that trickle their headers or body, or sit idle, are
// disconnected when their timeout passes, and while they hang on, everyone else is served.
func TestSlowClientsAreCutOff(t *testing.T) {
	limits := server.HTTPLimits{ReadHeaderTimeout: 1500 * time.Millisecond, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second, IdleTimeout: 500 * time.Millisecond}
	e := serveWithLimits(t, limits)
	addr := strings.TrimPrefix(e.url, "http://")

	// trickle sends prefix, then one byte of filler every 50ms, until the server hangs up; it
	// returns how long the connection lasted and what the server said, if anything.
	trickle := func(prefix string) (time.Duration, string, error) {
		t0 := time.Now() // before Dial: the server's timeout starts after its accept, never before this
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, "", err
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, prefix); err != nil {
			return 0, "", err
		}
		closed := make(chan string, 1)
		go func() {
			raw, _ := io.ReadAll(conn) // until the server closes the connection
			closed <- string(raw)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case said := <-closed:
				return time.Since(t0), said, nil
			case <-tick.C:
				conn.Write([]byte("a")) // fails once the server is gone; the reader notices
				if time.Since(t0) > 10*time.Second {
					return time.Since(t0), "", errors.New("still connected after 10s")
				}
			}
		}
	}

	const slowlorises = 50
	var wg sync.WaitGroup
	var cut atomic.Int64
	lasted := make([]time.Duration, slowlorises)
	errs := make([]error, slowlorises)
	for i := range slowlorises {
		wg.Go(func() {
			lasted[i], _, errs[i] = trickle("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: BaldrApiService.DescribeBackups\r\nX-Slow: ")
			cut.Add(1)
		})
	}
	// While 50 clients trickle headers, a real client is served: all its calls are answered
	// before any slowloris has been cut off.
	time.Sleep(100 * time.Millisecond)
	c := e.defaultClient()
	for range 5 {
		if _, err := c.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{}); err != nil {
			t.Fatalf("a normal client during the slowloris: %v", err)
		}
	}
	if n := cut.Load(); n != 0 {
		t.Fatalf("the normal client was served only after %d slowlorises were cut off", n)
	}
	wg.Wait()
	for i := range slowlorises {
		// (lasted counts from before Dial, so it is never shorter than the server's timeout.)
		if errs[i] != nil || lasted[i] < limits.ReadHeaderTimeout-50*time.Millisecond || lasted[i] > limits.ReadHeaderTimeout+time.Second {
			t.Fatalf("slowloris %d: lasted %s (%v), want cut off after ReadHeaderTimeout %s", i, lasted[i], errs[i], limits.ReadHeaderTimeout)
		}
	}

	// A client that sends its headers but trickles its body is cut off at ReadTimeout: its
	// request fails with a SerializationException (the body could not be read), or the
	// connection just closes.
	d, said, err := trickle("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: BaldrApiService.DescribeBackups\r\nContent-Length: 100000\r\n\r\n{\"NextToken\":\"")
	if err != nil || d < limits.ReadTimeout-50*time.Millisecond || d > limits.ReadTimeout+time.Second {
		t.Fatalf("slow body: lasted %s (%v), want cut off after ReadTimeout %s", d, err, limits.ReadTimeout)
	}
	if said != "" && !strings.Contains(said, "SerializationException") {
		t.Fatalf("slow body: the server said %q", said)
	}

	// An idle keep-alive connection is closed after IdleTimeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /_cloudhsm-local/health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health on a keep-alive connection: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	t0 := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d, %v; want EOF", n, err)
	}
	if d := time.Since(t0); d < limits.IdleTimeout-50*time.Millisecond || d > limits.IdleTimeout+time.Second {
		t.Fatalf("idle connection closed after %s, want IdleTimeout %s", d, limits.IdleTimeout)
	}
}
