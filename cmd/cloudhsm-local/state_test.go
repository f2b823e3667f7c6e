package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
)

// TestExportImport drives "export [--out FILE]" and "import FILE [--replace]" between two real
// servers on the same manual clock.
func TestExportImport(t *testing.T) {
	ctx := context.Background()
	from := startAdminServer(t, clock.NewManual(start))
	clusterID := initializedCluster(t, from("CLOUDHSM_LOCAL_ENDPOINT"), start)
	runJSON(t, ctx, from, "activate", clusterID)
	dir := t.TempDir()
	file := filepath.Join(dir, "state.json")

	code, doc, stderr := runCmd(ctx, from, "export")
	if code != 0 || !strings.HasPrefix(doc, `{"Version":1,`) || !json.Valid([]byte(doc)) || !strings.Contains(doc, clusterID) {
		t.Fatalf("export: exit %d, stderr %q, stdout %.200q", code, stderr, doc)
	}
	if code, stdout, stderr := runCmd(ctx, from, "export", "--out", file); code != 0 || stdout != "" {
		t.Fatalf("export --out: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != doc {
		t.Fatalf("export --out wrote another document than export (%v)", err)
	}

	to := startAdminServer(t, clock.NewManual(start))
	out := runJSON(t, ctx, to, "import", file)
	if out["Clusters"] != float64(1) || out["Hsms"] != float64(1) || out["Backups"] != float64(1) || out["Clock"] != "2026-03-01T09:00:00Z" {
		t.Fatalf("import printed %v", out)
	}
	if _, got, _ := runCmd(ctx, to, "export"); got != doc {
		t.Fatalf("the imported server exports another document:\n%s\nwant\n%s", got, doc)
	}
	runJSON(t, ctx, to, "import", "--replace", file) // flags before FILE
	runJSON(t, ctx, to, "import", file, "--replace") // or after it

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(doc, `"Version":1`, `"Version":7`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"into a server that holds resources", []string{"import", file}, 1, "the store is not empty: import into a new server, or replace its state (import --replace, PUT /_cloudhsm-local/state?replace=true) (HTTP 409)"},
		{"a document the server refuses", []string{"import", bad, "--replace"}, 1, "$.Version: 7 is not a version this server reads"},
		{"a file that does not exist", []string{"import", filepath.Join(dir, "none.json")}, 1, "no such file or directory"},
		{"no file", []string{"import"}, 2, "import takes one FILE"},
		{"two files", []string{"import", file, bad}, 2, "import takes one FILE"},
		{"an unknown flag", []string{"import", file, "--merge"}, 2, "flag provided but not defined: -merge"},
		{"export with an argument", []string{"export", "state.json"}, 2, `export takes only flags, got ["state.json"]`},
		{"export into a directory that does not exist", []string{"export", "--out", filepath.Join(dir, "no", "state.json")}, 1, "export: open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(ctx, to, tc.args...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
	if _, got, _ := runCmd(ctx, to, "export"); got != doc {
		t.Fatal("a refused import changed the state")
	}

	t.Run("a failed export leaves the file as it was", func(t *testing.T) {
		gone := env(map[string]string{"CLOUDHSM_LOCAL_ENDPOINT": "http://127.0.0.1:1"})
		code, _, stderr := runCmd(ctx, gone, "export", "--out", file)
		if code != 1 || !strings.Contains(stderr, "cannot reach cloudhsm-local") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if got, err := os.ReadFile(file); err != nil || string(got) != doc {
			t.Fatalf("the file changed (%v)", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Fatalf("the directory holds %d files, want the state and the bad document", len(entries))
		}
	})
}

// TestImportFixture drives "import FIXTURE": a fixture goes to POST fixture and is built into an
// empty server; a refused one, or one into a server that holds resources, changes nothing.
func TestImportFixture(t *testing.T) {
	ctx := context.Background()
	srv := startAdminServer(t, clock.NewManual(start))
	dir := t.TempDir()
	write := func(name, doc string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.json", `{"Fixture":1,"Clusters":[{"Name":"a","Account":"111122223333","Backups":[{"Count":3,"Age":"1d"}]}]}`)
	bad := write("bad.json", `{"Fixture":1,"Clusters":[{"Name":"a"},{"Name":"a"}]}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a fixture refused", []string{"import", bad}, 1, `$.Clusters[1].Name: "a" is already the name of $.Clusters[0]`},
		{"a fixture with --replace", []string{"import", good, "--replace"}, 2, "is a fixture, which seeds an empty store only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(ctx, srv, tc.args...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
	if _, doc, _ := runCmd(ctx, srv, "export"); strings.Contains(doc, "cluster-") {
		t.Fatal("a refused fixture changed the state")
	}
	out := runJSON(t, ctx, srv, "import", good)
	if ids, _ := out["Clusters"].(map[string]any); len(ids) != 1 || out["Hsms"] != float64(1) || out["Backups"] != float64(3) {
		t.Fatalf("import printed %v", out)
	}
	code, _, stderr := runCmd(ctx, srv, "import", good)
	if code != 1 || !strings.Contains(stderr, "a fixture seeds an empty store only") || !strings.Contains(stderr, "(HTTP 409)") {
		t.Fatalf("a second import: exit %d, stderr %q", code, stderr)
	}
}
