package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"syscall"
)

// topLevelFlags are the flags that stand for a command when they come first: without them a
// leading flag belongs to serve.
var topLevelFlags = map[string]string{
	"-h": "help", "-help": "help", "--help": "help",
	"-version": "version", "--version": "version",
}

// printVersion prints the version line: the module version (v1.2.3 for `go install …@v1.2.3`,
// "(devel)" for a build from a clone), the commit it was built from and whether the work tree
// had changes (when the build recorded them), and the Go toolchain and platform.
func printVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("version takes no arguments, got %q", args)
	}
	_, err := fmt.Fprintln(stdout, versionLine())
	return err
}

// versionLine reads the build information the Go toolchain embedded in the binary.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("cloudhsm-local (no build information) %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	line := "cloudhsm-local " + info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		line += " commit " + rev
		if settings["vcs.modified"] == "true" {
			line += " (with uncommitted changes)"
		}
		if when := settings["vcs.time"]; when != "" {
			line += " of " + when
		}
	}
	return fmt.Sprintf("%s, %s %s/%s", line, info.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// listenError explains a failure to listen on addr, suggesting another address when the
// address is taken.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w: another program (another cloudhsm-local?) has that port; stop it, or pick another address with --addr (or CLOUDHSM_LOCAL_ADDR), e.g. --addr 127.0.0.1:4581", addr, err)
	}
	return fmt.Errorf("listen on %s: %w: give an address this machine has with --addr (or CLOUDHSM_LOCAL_ADDR), e.g. --addr 127.0.0.1:4580 or --addr 0.0.0.0:4580 for every interface", addr, err)
}

// newLogger returns the server's logger: text or JSON lines on w, from level up.
func newLogger(format string, level slog.Level, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format: %q is neither text nor json", format)
}
