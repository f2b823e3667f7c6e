package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzAdmin/seed-* from the seed requests")

var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// deadline is how long one admin request may take before the fuzz target calls it a hang. The
// slowest legitimate call is a ten-year clock move, which applies every day of the world's
// ACTIVE cluster (about 6 s).
const deadline = 20 * time.Second

// adminWorld is a server on a memory store with an ACTIVE cluster (IDs fixed by a seeded random
// source), so activate and take-backup have something to act on.
type adminWorld struct {
	handler http.Handler
	active  string
	fresh   string // UNINITIALIZED
}

func newAdminWorld(tb testing.TB) *adminWorld {
	tb.Helper()
	srv, err := server.New(context.Background(), server.Config{
		Store: "memory", DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(),
		Clock: clock.NewManual(start), Rand: mrand.NewChaCha8([32]byte{'a', 'd', 'm', 'i', 'n'}),
		Faults: faults.New(mrand.NewChaCha8([32]byte{'f'})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	w := &adminWorld{handler: srv.Handler()}
	api := func(op, body string) map[string]any {
		tb.Helper()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "BaldrApiService."+op)
		rec := httptest.NewRecorder()
		w.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			tb.Fatalf("seeding %s: HTTP %d %s", op, rec.Code, rec.Body)
		}
		var doc map[string]any
		json.Unmarshal(rec.Body.Bytes(), &doc)
		return doc
	}
	clusterID := func(doc map[string]any) string { return doc["Cluster"].(map[string]any)["ClusterId"].(string) }
	w.active = clusterID(api("CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60001"]}`))
	api("CreateHsm", `{"ClusterId":"`+w.active+`","AvailabilityZone":"us-east-1a"}`)
	described := api("DescribeClusters", `{"Filters":{"clusterIds":["`+w.active+`"]}}`)
	csr := described["Clusters"].([]any)[0].(map[string]any)["Certificates"].(map[string]any)["ClusterCsr"].(string)
	cert, anchor := signCSR(tb, csr)
	init, _ := json.Marshal(map[string]string{"ClusterId": w.active, "SignedCert": cert, "TrustAnchor": anchor})
	api("InitializeCluster", string(init))
	if status, body := w.serve(http.MethodPost, "clusters/"+w.active+"/activate", nil); status != http.StatusOK {
		tb.Fatalf("seeding activate: HTTP %d %s", status, body)
	}
	w.fresh = clusterID(api("CreateCluster", `{"HsmType":"hsm2m.medium","SubnetIds":["subnet-0a1b2c3d4e5f60002"]}`))
	return w
}

// serve sends one admin request (path below /_cloudhsm-local/) and waits for the answer at
// most deadline; status -1 means it did not come.
func (w *adminWorld) serve(method, path string, body []byte) (int, []byte) {
	req := &http.Request{
		Method: method, URL: &url.URL{Path: admin.Prefix + path}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Host: "localhost",
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), RemoteAddr: "127.0.0.1:1",
	}
	req.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.handler.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		return rec.Code, rec.Body.Bytes()
	case <-time.After(deadline):
		return -1, []byte(fmt.Sprintf("no answer within %s", deadline))
	}
}

type adminSeed struct{ name, method, path, body string }

// seeds are real calls of every admin endpoint and a few wrong ones.
func (w *adminWorld) seeds() []adminSeed {
	return []adminSeed{
		{"health", "GET", "health", ""},
		{"clock", "GET", "clock", ""},
		{"clock-advance", "POST", "clock", `{"advance":"168h"}`},
		{"clock-set", "POST", "clock", `{"set":"2026-06-01T00:00:00Z"}`},
		{"clock-set-past", "POST", "clock", `{"set":"2020-01-01T00:00:00Z"}`},
		{"clock-both", "POST", "clock", `{"advance":"1h","set":"2030-01-01T00:00:00Z"}`},
		{"activate", "POST", "clusters/" + w.fresh + "/activate", ""},
		{"activate-active", "POST", "clusters/" + w.active + "/activate", ""},
		{"take-backup", "POST", "clusters/" + w.active + "/backups", ""},
		{"take-backup-unknown", "POST", "clusters/cluster-aaaaaaaaaaa/backups", ""},
		{"take-backups", "POST", "clusters/" + w.active + "/backups", `{"Count":3}`},
		{"take-backups-too-many", "POST", "clusters/" + w.active + "/backups", `{"Count":10001}`},
		{"reset", "POST", "reset", ""},
		{"faults-add-count", "POST", "faults", `{"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":1}`},
		{"faults-add-probability", "POST", "faults", `{"operation":"*","latency":"1ms","probability":0.1}`},
		{"faults-add-invalid", "POST", "faults", `{"operation":"*","error":"Nope","count":0}`},
		{"faults-list", "GET", "faults", ""},
		{"faults-clear", "DELETE", "faults", ""},
		{"requests", "GET", "requests", ""},
		{"state-export", "GET", "state", ""},
		{"state-import-not-empty", "PUT", "state", `{"Version":1,"Clock":"2026-03-01T09:00:00Z"}`},
		{"state-import-bad", "PUT", "state", `{"Version":1,"Clock":"2026-03-01T09:00:00Z","Backups":[{"BackupId":1}]}`},
		{"unknown-endpoint", "GET", "nope", ""},
		{"wrong-method", "PUT", "health", `{}`},
		{"not-json", "POST", "clock", `advance=1h`},
	}
}

// FuzzAdmin sends arbitrary methods, paths and bodies to the admin API of a server with a real
// (memory) store: nothing panics or hangs, every answer is JSON, and none is a 500 (a memory
// store does not fail, so a 500 could only be a bug).
func FuzzAdmin(f *testing.F) {
	w := newAdminWorld(f)
	for _, s := range w.seeds() {
		f.Add(s.method, s.path, []byte(s.body))
	}
	if *updateCorpus {
		dir := filepath.Join("testdata", "fuzz", "FuzzAdmin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		for _, s := range w.seeds() {
			content := "go test fuzz v1\nstring(" + strconv.Quote(s.method) + ")\nstring(" + strconv.Quote(s.path) + ")\n[]byte(" + strconv.Quote(s.body) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(content), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		status, out := w.serve(method, path, body)
		switch {
		case status == -1:
			t.Fatalf("hang: %s for %s %q %q", out, method, path, body)
		case status >= 500:
			t.Fatalf("HTTP %d for %s %q %q: %s", status, method, path, body, out)
		case status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect:
			return // the mux's redirect of an unclean path: plain text by design
		}
		if !json.Valid(out) {
			t.Fatalf("HTTP %d for %s %q %q: body is not JSON: %q", status, method, path, body, out)
		}
	})
}

// TestAdminWorldIsDeterministic: the seed corpus names the world's IDs.
func TestAdminWorldIsDeterministic(t *testing.T) {
	w := newAdminWorld(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzAdmin", "seed-take-backup"))
	if err != nil {
		t.Fatalf("the seed corpus is missing (go test ./internal/admin -run FuzzAdmin -update-corpus): %v", err)
	}
	if !strings.Contains(string(raw), w.active) {
		t.Fatalf("the seed corpus names other IDs than the world's (%s): rerun with -update-corpus", w.active)
	}
}

// signCSR issues a certificate for a cluster CSR from a fresh customer CA.
func signCSR(tb testing.TB, csrPEM string) (cert, anchor string) {
	tb.Helper()
	cert, anchor, err := customerca.SignCSR(csrPEM, start)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, anchor
}
