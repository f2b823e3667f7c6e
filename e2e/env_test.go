package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// start is the wall time every test server starts at.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// env is one running server and what tests need to drive it.
type env struct {
	t     *testing.T
	url   string
	clock *clock.Manual
	admin admin.Client
}

// options tweak a test server.
type options struct {
	store      string // default "memory"
	durability sqlstore.Durability
	lifecycle  func(*lifecycle.Config)
	service    func(*service.Config)
	realClock  bool // run on the system clock instead (env.clock is then nil)
}

// newEnv starts a server on loopback with a memory store and a manual wall clock.
func newEnv(t *testing.T, opts ...func(*options)) *env {
	t.Helper()
	o := options{store: "memory"}
	for _, f := range opts {
		f(&o)
	}
	life, svc := lifecycle.DefaultConfig(), service.DefaultConfig()
	if o.lifecycle != nil {
		o.lifecycle(&life)
	}
	if o.service != nil {
		o.service(&svc)
	}
	var wall clock.Clock
	clk := clock.NewManual(start)
	wall = clk
	if o.realClock {
		wall, clk = clock.Real{}, nil
	}
	srv, err := server.New(context.Background(), server.Config{
		Store: o.store, Durability: o.durability, DefaultRegion: "us-east-1", Lifecycle: life, Service: svc, Clock: wall,
		History: history.DefaultCapacity, // as the binary's default
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &env{t: t, url: hs.URL, clock: clk, admin: admin.Client{Endpoint: hs.URL}}
}

// client returns a Go SDK client for an account (a 12-digit access key) and region.
func (e *env) client(account, region string) *cloudhsmv2.Client {
	return cloudhsmv2.New(cloudhsmv2.Options{
		Region:           region,
		BaseEndpoint:     aws.String(e.url),
		Credentials:      credentials.NewStaticCredentialsProvider(account, "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// defaultClient is account 111122223333 in us-east-1.
func (e *env) defaultClient() *cloudhsmv2.Client { return e.client(account1, "us-east-1") }

const (
	account1 = "111122223333"
	account2 = "444455556666"
)

// adminCall calls the admin API and decodes its JSON answer into out (if not nil).
func (e *env) adminCall(method, path string, body, out any) {
	e.t.Helper()
	raw, err := e.admin.Call(context.Background(), method, path, body)
	if err != nil {
		e.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("admin %s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

// advance moves the virtual clock through the admin API.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.adminCall(http.MethodPost, "clock", admin.ClockChange{Advance: d.String()}, nil)
}

// wantAPIError asserts err is the named API error and that the wire said so with the status.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got non-API error %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) {
		t.Fatalf("error %v carries no HTTP status", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("%s: want HTTP %d, got %d", code, status, re.HTTPStatusCode())
	}
}

// rawCall posts a raw awsJson request and returns status, error type header and body.
func (e *env) rawCall(target, body string, header map[string]string) (int, string, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", "BaldrApiService."+target)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(raw)
}
