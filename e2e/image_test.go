package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// podman runs podman with args and returns its stdout, failing the test on an error.
func podman(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// TestContainerImage builds the image with `make image` and podman, checks its configuration
// and its files, copies the binary out of a created container and runs it: `version`, then a
// server that the image's HEALTHCHECK command finds healthy. (The container itself is not
// started: `podman run` needs setrlimit and cgroups, which this sandbox refuses; see README.)
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a container image with podman")
	}
	needTool(t, "podman", "podman")
	needTool(t, "make", "make")
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	image := "localhost/cloudhsm-local-test:" + hex.EncodeToString(suffix) // concurrent runs never share one
	build := exec.Command("make", "image", "IMAGE="+image)
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { podman(t, "rmi", "--force", image) })

	var inspected []struct {
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Env          []string
			Entrypoint   []string
			Cmd          []string
			Volumes      map[string]struct{}
			WorkingDir   string
		}
		Healthcheck struct{ Test []string } // Docker format (make image builds with --format docker)
	}
	if err := json.Unmarshal(podman(t, "image", "inspect", image), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	cfg, healthcheck := inspected[0].Config, inspected[0].Healthcheck.Test
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"user (not root)", cfg.User, "65532:65532"},
		{"exposed port", slices.Collect(mapKeys(cfg.ExposedPorts)), []string{"4580/tcp"}},
		{"volume", slices.Collect(mapKeys(cfg.Volumes)), []string{"/data"}},
		{"working directory", cfg.WorkingDir, "/data"},
		{"listens on every interface", slices.Contains(cfg.Env, "CLOUDHSM_LOCAL_ADDR=0.0.0.0:4580"), true},
		{"SQLite in the volume", slices.Contains(cfg.Env, "CLOUDHSM_LOCAL_STORE=sqlite:/data/cloudhsm-local.db"), true},
		{"entrypoint and command", append(cfg.Entrypoint, cfg.Cmd...), []string{"/cloudhsm-local", "serve"}},
	} {
		if !equalJSON(tc.got, tc.want) {
			t.Errorf("image %s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !equalJSON(healthcheck, []string{"CMD", "/cloudhsm-local", "health"}) {
		t.Fatalf("image healthcheck: %v, want the binary's health subcommand", healthcheck)
	}

	id := strings.TrimSpace(string(podman(t, "create", image)))
	t.Cleanup(func() { podman(t, "rm", "--force", id) })
	files := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(podman(t, "export", id)))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("podman export: %v", err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
	}
	if names := slices.Sorted(mapKeys(files)); !equalJSON(names, []string{"cloudhsm-local", "data", "etc", "etc/group", "etc/passwd", "tmp"}) {
		t.Errorf("the image holds %v; want the binary, /etc/passwd, /etc/group and the empty /data and /tmp only", names)
	}
	for _, dir := range []string{"data", "tmp"} {
		if h := files[dir]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != 65532 {
			t.Errorf("/%s is %+v, want a directory of user 65532", dir, h)
		}
	}

	bin := filepath.Join(t.TempDir(), "cloudhsm-local")
	podman(t, "cp", id+":/cloudhsm-local", bin)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "cloudhsm-local ") {
		t.Fatalf("the image's binary: version: %v\n%s", err, out)
	}
	t.Logf("the image's binary: %s", out)
	p := startProcess(t, bin, "--store", "sqlite:"+filepath.Join(t.TempDir(), "cloudhsm-local.db"))
	health := exec.Command(bin, healthcheck[2:]...)
	health.Env = []string{"CLOUDHSM_LOCAL_ENDPOINT=" + p.url}
	if out, err := health.CombinedOutput(); err != nil || !strings.Contains(string(out), `"status": "ok"`) {
		t.Fatalf("the image's HEALTHCHECK command against its binary serving: %v\n%s", err, out)
	}
}

// mapKeys yields the keys of m.
func mapKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// equalJSON compares two values by their JSON.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
