package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
)

const (
	strictToken = "cmd-admin-token-8e21"
	keyA        = "AKIDCMDFIRST00000001"
	secretA     = "first-secret-cmd"
	keyB        = "AKIDCMDSECOND0000001"
	secretB     = "second-secret-cmd"
)

func credentialsText(entries ...[2]string) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, `{"access_key_id":"`+e[0]+`","secret_access_key":"`+e[1]+`","account_id":"111122223333"}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestParseServeAuth: --auth, --credentials and --admin-token, and their environment twins.
func TestParseServeAuth(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials.json")
	writeFile(t, creds, credentialsText([2]string{keyA, secretA}))

	t.Run("permissive by default", func(t *testing.T) {
		got, err := parseServe(nil, env(nil), io.Discard)
		if err != nil || got.server.Verifier != nil || got.server.AdminToken != "" {
			t.Fatalf("parseServe() = %+v, %v; want permissive mode", got.server, err)
		}
	})
	t.Run("sigv4 from flags", func(t *testing.T) {
		got, err := parseServe([]string{"--auth", "sigv4", "--credentials", creds, "--admin-token", strictToken}, env(nil), io.Discard)
		if err != nil || got.server.Verifier == nil || got.server.Verifier.Credentials().Len() != 1 || got.server.AdminToken != strictToken || got.credentials != creds {
			t.Fatalf("parseServe() = %+v, %v", got, err)
		}
	})
	t.Run("sigv4 from the environment twins", func(t *testing.T) {
		got, err := parseServe(nil, env(map[string]string{
			"CLOUDHSM_LOCAL_AUTH": "sigv4", "CLOUDHSM_LOCAL_CREDENTIALS": creds, "CLOUDHSM_LOCAL_ADMIN_TOKEN": strictToken,
		}), io.Discard)
		if err != nil || got.server.Verifier == nil || got.server.AdminToken != strictToken {
			t.Fatalf("parseServe() = %+v, %v", got, err)
		}
	})
	t.Run("an admin token alone guards the admin API of a permissive server", func(t *testing.T) {
		got, err := parseServe([]string{"--admin-token", strictToken}, env(nil), io.Discard)
		if err != nil || got.server.Verifier != nil || got.server.AdminToken != strictToken {
			t.Fatalf("parseServe() = %+v, %v", got.server, err)
		}
	})

	bad := filepath.Join(t.TempDir(), "bad.json")
	writeFile(t, bad, `[{"access_key_id":"`+keyA+`","secret_access_key":"`+secretA+`","account_id":"42"}]`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"--auth", "hmac"}, `--auth must be permissive or sigv4, not "hmac"`},
		{"sigv4 without credentials", []string{"--auth", "sigv4", "--admin-token", strictToken}, "--auth sigv4 needs --credentials"},
		{"sigv4 without an admin token", []string{"--auth", "sigv4", "--credentials", creds}, "--auth sigv4 needs --admin-token"},
		{"credentials without sigv4", []string{"--credentials", creds}, "--credentials is only used with --auth sigv4"},
		{"a credentials file that does not load", []string{"--auth", "sigv4", "--credentials", bad, "--admin-token", strictToken}, "entry 1 (" + keyA + "): account_id"},
		{"a credentials file that does not exist", []string{"--auth", "sigv4", "--credentials", creds + ".missing", "--admin-token", strictToken}, "credentials file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(ctx, env(nil), append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "memory"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if strings.Contains(stderr, secretA) {
				t.Errorf("stderr quotes a secret: %s", stderr)
			}
		})
	}
}

// lockedLog collects the server's log lines as they come.
type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *lockedLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor polls cond every 20 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStrictServeReloadsOnSIGHUP runs the real serve command in sigv4 mode, keeps signed requests
// flowing, and reloads the credentials file with SIGHUP: a new key works after the reload, a
// file that no longer loads keeps the previous credentials, and no request is dropped.
func TestStrictServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	writeFile(t, creds, credentialsText([2]string{keyA, secretA}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--store", "memory", "--auth", "sigv4", "--credentials", creds},
			env(map[string]string{"CLOUDHSM_LOCAL_ADMIN_TOKEN": strictToken}), io.Discard, logW)
		logW.Close()
		done <- code
	}()
	log := &lockedLog{}
	addrc := make(chan string, 1)
	go func() {
		addrPattern := regexp.MustCompile(`msg="cloudhsm-local serving" addr=(\S+) .* auth=sigv4`)
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			log.add(sc.Text())
			if m := addrPattern.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		close(addrc)
	}()
	var url string
	select {
	case a, ok := <-addrc:
		if !ok {
			t.Fatalf("serve exited before listening: %d\n%s", <-done, log.text())
		}
		url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not log its address within 30s")
	}

	client := func(key, secret string) *cloudhsmv2.Client {
		return cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1})
	}
	works := func(key, secret string) bool {
		_, err := client(key, secret).DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
		return err == nil
	}

	t.Run("admin subcommands need the token", func(t *testing.T) {
		code, _, stderr := runCmd(ctx, env(map[string]string{"CLOUDHSM_LOCAL_ENDPOINT": url}), "health")
		if code != 1 || !strings.Contains(stderr, "HTTP 401") {
			t.Fatalf("health without the token: exit %d, %s", code, stderr)
		}
		code, stdout, stderr := runCmd(ctx, env(map[string]string{"CLOUDHSM_LOCAL_ENDPOINT": url, "CLOUDHSM_LOCAL_ADMIN_TOKEN": strictToken}), "health")
		if code != 0 || !strings.Contains(stdout, `"status": "ok"`) {
			t.Fatalf("health with the token from the environment: exit %d, %s %s", code, stdout, stderr)
		}
		code, _, stderr = runCmd(ctx, env(nil), "clock", "--endpoint", url, "--admin-token", strictToken)
		if code != 0 {
			t.Fatalf("clock with --admin-token: exit %d, %s", code, stderr)
		}
	})

	if !works(keyA, secretA) {
		t.Fatal("the first key does not work before any reload")
	}
	if works(keyB, secretB) {
		t.Fatal("the second key works before it is in the file")
	}

	// Keep requests with the first key flowing through every reload.
	stop := make(chan struct{})
	var load sync.WaitGroup
	var served, failed atomic.Int64
	var firstErr atomic.Value
	for range 4 {
		load.Go(func() {
			c := client(keyA, secretA)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					served.Add(1)
				}
			}
		})
	}

	hangUp := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 { // several reloads under load
		writeFile(t, creds, credentialsText([2]string{keyA, secretA}, [2]string{keyB, secretB}))
		hangUp()
		waitFor(t, "reload", func() bool { return strings.Count(log.text(), `msg="credentials reloaded"`) > i })
	}
	if !works(keyB, secretB) {
		t.Fatal("the second key does not work after the reload")
	}

	writeFile(t, creds, `[{"access_key_id": "`+keyB+`", "secret_access_key": "rotated", "account_id": "oops"}]`)
	hangUp()
	waitFor(t, "the refused reload", func() bool { return strings.Contains(log.text(), "credentials not reloaded") })
	if !works(keyB, secretB) || !works(keyA, secretA) {
		t.Fatal("a file that does not load replaced the previous credentials")
	}

	close(stop)
	load.Wait()
	if failed.Load() != 0 || served.Load() == 0 {
		t.Fatalf("during the reloads %d requests were served and %d failed (first: %v)", served.Load(), failed.Load(), firstErr.Load())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve returned %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30s of cancellation")
	}
	for _, secret := range []string{secretA, secretB, strictToken, "rotated"} {
		if strings.Contains(log.text(), secret) {
			t.Errorf("the server log contains a secret (%.4s…)", secret)
		}
	}
	if !bytes.Contains([]byte(log.text()), []byte(`msg="credentials not reloaded; keeping the previous ones"`)) {
		t.Errorf("the refused reload was not logged:\n%s", log.text())
	}
}
