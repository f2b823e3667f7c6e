package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

// wrk's settings for every run: the "2 threads, 32 keep-alive connections".
const (
	wrkThreads     = 2
	wrkConnections = 32
)

// wrkMarker starts the line of JSON that the generated script's done() prints.
const wrkMarker = "WRK-RESULT "

// wrkRequest is one fixed request for wrk: the operation, its body and headers, and a string
// that every right answer contains (wrk checks a substring; loadgen decodes the whole answer).
type wrkRequest struct {
	header   map[string]string
	body     []byte
	contains string
}

// newWrkRequest builds the request c would send for op with body.
func newWrkRequest(c *loadgen.Client, op string, body []byte, contains string) wrkRequest {
	h := map[string]string{}
	for k, v := range c.Header(op) {
		h[k] = v[0]
	}
	return wrkRequest{header: h, body: body, contains: contains}
}

// wrkScript is the Lua script wrk runs: every request is a POST of the fixed body with the
// awsJson1_1 headers, and response() counts as bad every answer that is not a 200 or lacks the
// expected string. done() prints one line of JSON after wrkMarker with the summary, the
// latency percentiles (µs) and the bad answers of all threads.
func wrkScript(r wrkRequest) string {
	var b strings.Builder
	b.WriteString("wrk.method = \"POST\"\n")
	fmt.Fprintf(&b, "wrk.body = %s\n", luaString(string(r.body)))
	keys := make([]string, 0, len(r.header))
	for k := range r.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", luaString(k), luaString(r.header[k]))
	}
	fmt.Fprintf(&b, "local want = %s\n", luaString(r.contains))
	b.WriteString(`local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or (want ~= "" and not string.find(body, want, 1, true)) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format('` + wrkMarker + `{"requests":%d,"duration_us":%d,"bad":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, b, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`)
	return b.String()
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range []byte(s) {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(r)
		case r < 0x20 || r >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", r)
		default:
			b.WriteByte(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wrkSummary is the JSON line of the script's done().
type wrkSummary struct {
	Requests   int     `json:"requests"`
	DurationUs float64 `json:"duration_us"`
	Bad        int     `json:"bad"`
	Connect    int     `json:"connect"`
	Read       int     `json:"read"`
	Write      int     `json:"write"`
	Status     int     `json:"status"`
	Timeout    int     `json:"timeout"`
	P50Us      float64 `json:"p50_us"`
	P99Us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
}

// parseWrk finds the script's summary in wrk's output and turns it into a loadgen.Result:
// every request that was bad, failed or timed out is an error, the rest are requests.
func parseWrk(out []byte) (loadgen.Result, error) {
	for line := range bytes.SplitSeq(out, []byte("\n")) {
		raw, ok := bytes.CutPrefix(line, []byte(wrkMarker))
		if !ok {
			continue
		}
		var s wrkSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			return loadgen.Result{}, fmt.Errorf("wrk summary %q: %w", raw, err)
		}
		errs := s.Bad + s.Connect + s.Read + s.Write + s.Timeout
		// wrk counts a status ≥ 400 in errors.status and hands the answer to response() too,
		// which counted it as bad: it is in s.Bad already.
		res := loadgen.Result{
			Requests:    max(0, s.Requests-s.Bad),
			Errors:      errs,
			Seconds:     s.DurationUs / 1e6,
			P50Ms:       s.P50Us / 1000,
			P99Ms:       s.P99Us / 1000,
			MaxMs:       s.MaxUs / 1000,
			Concurrency: wrkConnections,
		}
		if res.Seconds > 0 {
			res.RPS = float64(res.Requests) / res.Seconds
		}
		if errs > 0 {
			res.FirstError = fmt.Sprintf("%d wrong answers or non-200 statuses (%d of them ≥ 400), %d connect, %d read, %d write, %d timeouts",
				s.Bad, s.Status, s.Connect, s.Read, s.Write, s.Timeout)
		}
		return res, nil
	}
	return loadgen.Result{}, fmt.Errorf("no %q line in wrk's output: %s", strings.TrimSpace(wrkMarker), clipString(string(out), 300))
}

// runWrk drives url with wrk: a warm-up run that is not counted, then the measured one.
func runWrk(ctx context.Context, dir, url string, r wrkRequest, warmup, dur time.Duration) (loadgen.Result, error) {
	f, err := os.CreateTemp(dir, "wrk-*.lua")
	if err != nil {
		return loadgen.Result{}, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(wrkScript(r)); err != nil {
		return loadgen.Result{}, errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return loadgen.Result{}, err
	}
	once := func(d time.Duration) ([]byte, error) {
		secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds())))
		cmd := exec.CommandContext(ctx, "wrk", "-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(wrkConnections),
			"-d"+secs+"s", "--timeout", "30s", "-s", filepath.Base(f.Name()), url)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("wrk: %w: %s", err, clipString(string(out), 300))
		}
		return out, nil
	}
	if warmup > 0 {
		if _, err := once(warmup); err != nil {
			return loadgen.Result{}, err
		}
	}
	out, err := once(dur)
	if err != nil {
		return loadgen.Result{}, err
	}
	return parseWrk(out)
}
