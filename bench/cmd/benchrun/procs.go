package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one server the harness started. It runs in its own process group, so stopping it
// also stops anything it spawned.
type proc struct {
	name    string
	url     string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// procs tracks every server started, so that all of them are stopped however the run ends.
// Their PIDs are also appended to pidFile, which bench/run.sh kills on exit as a safety net.
type procs struct {
	mu      sync.Mutex
	list    []*proc
	pidFile string
	logDir  string
}

// start runs argv with its output in a log file; url is where it will serve.
func (ps *procs) start(name, url string, argv []string, env ...string) (*proc, error) {
	logPath := filepath.Join(ps.logDir, strings.ReplaceAll(name, "/", "_")+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, url: url, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	if ps.pidFile != "" {
		if f, err := os.OpenFile(ps.pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, cmd.Process.Pid)
			_ = f.Close()
		}
	}
	return p, nil
}

// pid returns the server's process ID.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to terminate and kills it if it has not within five seconds.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the last lines of the server's output, for error messages.
func (p *proc) logTail(n int) string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// stopAll stops every server still running, the most recently started first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := append([]*proc(nil), ps.list...)
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// pollClient asks without keep-alive, so each poll is what a fresh client would see.
var pollClient = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// waitReady polls url every millisecond until it answers: with 200 when okOnly, with any HTTP
// status otherwise (moto has no health endpoint). It returns the time since since.
func waitReady(ctx context.Context, p *proc, url string, okOnly bool, since time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := pollClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if !okOnly || resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
		}
		if p != nil && p.exited() {
			return 0, fmt.Errorf("%s exited: %v: %s", p.name, p.err, p.logTail(3))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, errors.Join(fmt.Errorf("%s not ready at %s after %s", p.name, url, timeout), ctx.Err())
		}
		time.Sleep(time.Millisecond)
	}
}

// memory is what /proc/<pid>/status says about a process's resident memory, in KiB.
type memory struct {
	RSS, HWM int
}

func (m memory) MiB() float64 { return float64(m.RSS) / 1024 }

// residentMemory reads VmRSS and VmHWM of a process.
func residentMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		}
	}
	return m, sc.Err()
}
