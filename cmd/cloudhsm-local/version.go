package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// topLevelCommand returns the command a flag stands for when it comes first ("--help" is help,
// "--version" is version), or "" for any other flag, which belongs to serve.
func topLevelCommand(flag string) string {
	switch flag {
	case "-h", "-help", "--help":
		return "help"
	case "-version", "--version":
		return "version"
	}
	return ""
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
