package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// TestRequestsCommand drives "requests [filters]" against a real server that keeps a history.
func TestRequestsCommand(t *testing.T) {
	ctx := context.Background()
	srv, err := server.New(ctx, server.Config{
		Store: "memory", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(), Clock: clock.NewManual(start), History: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	// CLOUDHSM_LOCAL_REGION is serve's --region: it must not filter the requests.
	getenv := env(map[string]string{"CLOUDHSM_LOCAL_ENDPOINT": hs.URL, "CLOUDHSM_LOCAL_REGION": "eu-west-1", "CLOUDHSM_LOCAL_LIMIT": "1"})
	c := cloudhsmv2.New(cloudhsmv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("111122223333", "secret", ""),
	})
	if _, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: aws.String("backup-abcdefghijk")}); err == nil {
		t.Fatal("DeleteBackup of an unknown backup succeeded")
	}

	t.Run("everything, newest first", func(t *testing.T) {
		out := runJSON(t, ctx, getenv, "requests")
		reqs, _ := out["Requests"].([]any)
		if len(out) != 1 || len(reqs) != 2 {
			t.Fatalf("requests printed %v", out)
		}
		newest, _ := reqs[0].(map[string]any)
		ids, _ := newest["ResourceIds"].([]any)
		if newest["Operation"] != "DeleteBackup" || newest["Status"] != float64(400) || newest["Error"] != "CloudHsmResourceNotFoundException" ||
			newest["Account"] != "111122223333" || newest["Region"] != "us-east-1" || newest["VirtualTime"] != "2026-03-01T09:00:00Z" ||
			len(ids) != 1 || ids[0] != "backup-abcdefghijk" {
			t.Fatalf("the newest request: %v", newest)
		}
	})
	t.Run("filters", func(t *testing.T) {
		out := runJSON(t, ctx, getenv, "requests", "--operation", "DescribeClusters", "--account", "111122223333", "--region", "us-east-1", "--limit", "5")
		reqs, _ := out["Requests"].([]any)
		if len(reqs) != 1 || reqs[0].(map[string]any)["Operation"] != "DescribeClusters" {
			t.Fatalf("requests --operation DescribeClusters printed %v", out)
		}
		out = runJSON(t, ctx, getenv, "requests", "--error", "*")
		if reqs, _ := out["Requests"].([]any); len(reqs) != 1 || reqs[0].(map[string]any)["Operation"] != "DeleteBackup" {
			t.Fatalf("requests --error '*' printed %v", out)
		}
	})

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a filter the server refuses is exit 1 with its reason", []string{"--operation", "Nope"}, 1, `operation "Nope" is not an operation of the API`},
		{"a limit that is no number", []string{"--limit", "all"}, 1, `limit "all" is not a number from 1 to 10000 (HTTP 400)`},
		{"an unknown flag", []string{"--state", "READY"}, 2, "flag provided but not defined: -state"},
		{"an argument", []string{"RestoreBackup"}, 2, `requests takes only flags, got ["RestoreBackup"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(ctx, getenv, append([]string{"requests"}, tc.args...)...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}

	t.Run("a server without history says so", func(t *testing.T) {
		code, _, stderr := runCmd(ctx, startAdminServer(t, nil), "requests")
		if code != 1 || !strings.Contains(stderr, "the request history is off on this server (it was started with --history 0) (HTTP 404)") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("reset clears it", func(t *testing.T) {
		runJSON(t, ctx, getenv, "reset")
		out := runJSON(t, ctx, getenv, "requests")
		if reqs, _ := out["Requests"].([]any); len(reqs) != 0 {
			t.Fatalf("after reset: %v", out)
		}
	})
}
