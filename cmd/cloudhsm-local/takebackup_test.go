package main

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
)

// TestTakeBackupCount drives "take-backup CLUSTER_ID [--count N]" against a real server.
func TestTakeBackupCount(t *testing.T) {
	ctx := context.Background()
	getenv := startAdminServer(t, clock.NewManual(start))
	clusterID := initializedCluster(t, getenv("CLOUDHSM_LOCAL_ENDPOINT"), start)
	runJSON(t, ctx, getenv, "activate", clusterID)

	t.Run("--count N prints the count and the IDs, oldest first", func(t *testing.T) {
		out := runJSON(t, ctx, getenv, "take-backup", clusterID, "--count", "3")
		ids, _ := out["BackupIds"].([]any)
		if len(out) != 2 || out["Count"] != float64(3) || len(ids) != 3 {
			t.Fatalf("take-backup --count 3 printed %v", out)
		}
		for _, id := range ids {
			if s, _ := id.(string); !strings.HasPrefix(s, "backup-") {
				t.Fatalf("take-backup --count 3 printed the ID %v", id)
			}
		}
	})
	t.Run("without --count it takes one backup", func(t *testing.T) {
		out := runJSON(t, ctx, getenv, "take-backup", clusterID)
		if b, _ := out["Backup"].(map[string]any); len(out) != 1 || b["ClusterId"] != clusterID {
			t.Fatalf("take-backup printed %v", out)
		}
	})

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a Count the server refuses is exit 1 with its reason", []string{clusterID, "--count", "0"}, 1, "Count must be from 1 to 10000, not 0"},
		{"over the maximum", []string{clusterID, "--count", "10001"}, 1, "(HTTP 400)"},
		{"an unknown cluster", []string{"cluster-aaaaaaaaaaa", "--count", "2"}, 1, "(HTTP 404)"},
		{"a --count that is not a number", []string{clusterID, "--count", "many"}, 2, `invalid value "many" for flag -count`},
		{"an unknown flag", []string{clusterID, "--counts", "2"}, 2, "flag provided but not defined: -counts"},
		{"a second argument", []string{clusterID, "--count", "2", "extra"}, 2, `got also ["extra"]`},
		{"no cluster ID", nil, 2, "take-backup takes a cluster ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(ctx, getenv, append([]string{"take-backup"}, tc.args...)...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}
