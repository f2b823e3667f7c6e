package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readme returns the README's text.
func readme(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// shellBlock returns the first ```sh block after the heading.
func shellBlock(t *testing.T, text, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q heading", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("%s has no ```sh block", heading)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("the ```sh block of %s is not closed", heading)
	}
	return block
}

// runReadmeScript runs a README block as a bash script (where aliases would not expand), with
// the server's URL for the README's, bin's directory first on PATH, in dir, and returns stdout.
func runReadmeScript(t *testing.T, script, url, bin, dir string, env ...string) string {
	t.Helper()
	script = strings.ReplaceAll(script, "http://127.0.0.1:4580", url)
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "CLOUDHSM_LOCAL_ENDPOINT="+url,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README script failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestReadmeTour runs the README's five-minute tour as a script, with the real AWS CLI, openssl
// and the cloudhsm-local binary against a real server, so the README cannot drift from what
// the server does. It is started in a directory that must stay empty: the tour's CA key and
// certificates go to a temporary directory of its own, not into the user's clone.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the real binary with the AWS CLI and openssl")
	}
	needTool(t, "aws", "awscli")
	needTool(t, "openssl", "openssl")
	needTool(t, "bash", "bash")
	script := shellBlock(t, readme(t), "## Five-minute tour with the AWS CLI")
	bin := buildBinary(t)
	// openssl stamps certificates with the wall time, so this server runs on it.
	e := newEnv(t, func(o *options) { o.realClock = true })
	clone, tmp := t.TempDir(), t.TempDir()
	out := runReadmeScript(t, script, e.url, bin, clone, "TMPDIR="+tmp)

	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; last != `"DELETED"` {
		t.Fatalf("the tour's last command should print \"DELETED\", got %q\nstdout:\n%s", last, out)
	}
	if left, _ := os.ReadDir(clone); len(left) != 0 {
		t.Errorf("the tour left %d files where it was started (a clone, say): %v", len(left), left)
	}
	if keys, _ := filepath.Glob(filepath.Join(tmp, "*", "ca.key")); len(keys) != 1 {
		t.Errorf("the tour's CA key is not in a temporary directory of its own: %v", keys)
	}
}

// TestReadmeEndpointVariables runs the README's AWS_ENDPOINT_URL_CLOUDHSM_V2 example with the
// aws on PATH and boto3: both reach the server without --endpoint-url.
func TestReadmeEndpointVariables(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: drives the AWS CLI")
	}
	needTool(t, "aws", "awscli")
	needTool(t, "python3", "python3")
	script := shellBlock(t, readme(t), "### Without --endpoint-url")
	e := newEnv(t)
	mustCreateCluster(t, e.defaultClient(), nil) // so that 1 cannot come from anywhere else
	out := runReadmeScript(t, script, e.url, buildBinary(t), t.TempDir(),
		"AWS_ACCESS_KEY_ID="+account1, "AWS_SECRET_ACCESS_KEY=x", "AWS_DEFAULT_REGION=us-east-1")
	if out != "1\n1\n" {
		t.Fatalf("the CLI and boto3 should each print 1 (the cluster), got %q", out)
	}
}

// TestReadmeFacts: what the README says about the project matches the project: the Go version
// of go.mod, every tool .ci/run installs. (internal/metrics checks its table of metrics.)
func TestReadmeFacts(t *testing.T) {
	text := readme(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || !strings.Contains(text, "Needs Go "+string(goVersion[1])+" or later") {
		t.Errorf("the README does not say \"Needs Go %s or later\", as go.mod does", goVersion)
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	needs := regexp.MustCompile(`(?m)^need (\S+) (\S+)`).FindAllSubmatch(ci, -1)
	if len(needs) == 0 {
		t.Fatal(".ci/run installs nothing with need?")
	}
	for _, n := range needs {
		if !strings.Contains(text, "`"+string(n[1])+"`") {
			t.Errorf(".ci/run installs %s (%s), but the README does not name `%s` among what make test needs", n[1], n[2], n[1])
		}
	}
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
