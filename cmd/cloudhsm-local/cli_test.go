package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestVersion: version and --version print one line naming the build; version takes nothing.
func TestVersion(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, stdout, stderr := runCmd(ctx, env(nil), args...)
		if code != 0 || !strings.HasPrefix(stdout, "cloudhsm-local ") || !strings.Contains(stdout, runtime.Version()) || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and one line with the module version and %s", args, code, stdout, stderr, runtime.Version())
		}
	}
	if code, _, stderr := runCmd(ctx, env(nil), "version", "now"); code != 2 || !strings.Contains(stderr, "version takes no arguments") {
		t.Errorf("version now: exit %d, stderr %q; want 2", code, stderr)
	}
}

// TestHelpListsEverySubcommand: help, -h and --help list every subcommand, one line each, on
// stdout, and exit 0.
func TestHelpListsEverySubcommand(t *testing.T) {
	subcommands := []string{"[serve]", "health", "clock", "clock advance", "clock set", "activate", "take-backup",
		"reset", "faults [list | clear]", "faults add", "version", "help"}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		code, stdout, _ := runCmd(context.Background(), env(nil), args...)
		if code != 0 {
			t.Errorf("%q: exit %d", args, code)
		}
		for _, sub := range subcommands {
			if !strings.Contains(stdout, "\n  cloudhsm-local "+sub+" ") {
				t.Errorf("%q does not list %q:\n%s", args, sub, stdout)
			}
		}
	}
}

// TestListenFailuresSuggestAnAddress: a taken port, or an address this machine does not have,
// is exit 1 with a message that says to use --addr.
func TestListenFailuresSuggestAnAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, addr, want string }{
		{"a port in use", taken.Addr().String(), "another program (another cloudhsm-local?) has that port; stop it, or pick another address with --addr"},
		{"an address that is not this machine's", "192.0.2.1:4580", "cannot assign requested address: choose another address with --addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(context.Background(), env(nil), "serve", "--addr", tc.addr, "--store", "memory")
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.want)
			}
		})
	}
}

// serveLogged runs the serve command with args until a request has been answered, then stops
// it, and returns its exit status and the lines it logged.
func serveLogged(t *testing.T, addrPattern *regexp.Regexp, args ...string) (int, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "memory"}, args...), env(nil), io.Discard, logW)
		logW.Close()
		done <- code
	}()
	linec, addrc := make(chan []string, 1), make(chan string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := addrPattern.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		linec <- lines
	}()
	select {
	case addr := <-addrc:
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "BaldrApiService.DescribeBackups")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=111122223333/20260301/eu-west-1/cloudhsm/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not log its address within 30s")
	}
	cancel()
	return <-done, <-linec
}

// TestServeLogs: --log-format picks text or JSON lines; start, the store, shutdown and stop are
// at info level, and at debug level each API request has one line with its outcome.
func TestServeLogs(t *testing.T) {
	t.Run("json at debug level", func(t *testing.T) {
		code, lines := serveLogged(t, regexp.MustCompile(`"msg":"cloudhsm-local serving","addr":"([^"]+)"`), "--log-format", "json", "--log-level", "debug")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var messages []string
		var request map[string]any
		for _, line := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			messages = append(messages, rec["level"].(string)+" "+rec["msg"].(string))
			if rec["msg"] == "request" {
				request = rec
			}
		}
		for _, want := range []string{"INFO store open", "INFO cloudhsm-local serving", "DEBUG request",
			"INFO shutting down: no new connections, finishing requests in flight", "INFO stopped serving", "INFO store closed"} {
			if !strings.Contains(strings.Join(messages, "\n"), want) {
				t.Errorf("no %q line among:\n%s", want, strings.Join(messages, "\n"))
			}
		}
		for k, v := range map[string]any{"operation": "DescribeBackups", "account": "111122223333", "region": "eu-west-1", "status": float64(200)} {
			if request[k] != v {
				t.Errorf("the request's line has %s = %v, want %v: %v", k, request[k], v, request)
			}
		}
		for _, k := range []string{"request_id", "duration"} {
			if _, ok := request[k]; !ok {
				t.Errorf("the request's line has no %s: %v", k, request)
			}
		}
	})
	t.Run("text at info level: no request lines", func(t *testing.T) {
		code, lines := serveLogged(t, regexp.MustCompile(`msg="cloudhsm-local serving" addr=(\S+)`), "--log-format", "text")
		joined := strings.Join(lines, "\n")
		if code != 0 || !strings.Contains(joined, `level=INFO msg="stopped serving"`) || strings.Contains(joined, "msg=request") {
			t.Fatalf("exit %d, log:\n%s", code, joined)
		}
	})
}
