package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeTour runs the README's five-minute tour, command by command, with the real AWS CLI
// and openssl against a real server, so the README cannot drift from what the server does.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the real binary with the AWS CLI and openssl")
	}
	needTool(t, "aws", "awscli")
	needTool(t, "openssl", "openssl")
	needTool(t, "bash", "bash")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := tourScript(t, string(readme))

	bin := filepath.Join(t.TempDir(), "cloudhsm-local")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/cloudhsm-local").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// openssl stamps certificates with the wall time, so this server runs on it.
	e := newEnv(t, func(o *options) { o.realClock = true })
	script = strings.ReplaceAll(script, "http://127.0.0.1:4580", e.url)
	script = strings.ReplaceAll(script, "go run ./cmd/cloudhsm-local", bin)

	cmd := exec.Command("bash", "-c", "shopt -s expand_aliases\nset -euo pipefail\n"+script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CLOUDHSM_LOCAL_ENDPOINT="+e.url, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README tour failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; last != `"DELETED"` {
		t.Fatalf("the tour's last command should print \"DELETED\", got %q\nstdout:\n%s", last, stdout.String())
	}
}

// tourScript returns the shell block that follows the "Five-minute tour" heading.
func tourScript(t *testing.T, readme string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "## Five-minute tour")
	if !ok {
		t.Fatal("README has no \"Five-minute tour\" section")
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatal("the tour has no ```sh block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the tour's ```sh block is not closed")
	}
	return block
}

// TestReadmeListsEveryPackage: README's "Where things are" names every package of the module
// (or a folder holding it), so a newcomer finds each room from the README.
func TestReadmeListsEveryPackage(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Where things are")
	if !ok {
		t.Fatal(`README has no "Where things are" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := func(dir string) bool {
		for d := dir; d != "."; d = filepath.Dir(d) {
			if strings.Contains(section, d+" ") || strings.Contains(section, d+"/ ") || strings.Contains(section, d+"\n") {
				return true
			}
		}
		return false
	}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		goFiles, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if len(goFiles) == 0 || path == ".." {
			return nil
		}
		if dir, _ := filepath.Rel("..", path); !listed(filepath.ToSlash(dir)) {
			t.Errorf("package %s is not in README's \"Where things are\"", dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
