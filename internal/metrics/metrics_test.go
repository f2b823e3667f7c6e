package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/protocol"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// source is a Source with fixed answers.
type source struct {
	counts []store.ResourceCount
	offset time.Duration
	err    error
}

func (s source) CountResources(context.Context) ([]store.ResourceCount, error) {
	return s.counts, s.err
}
func (s source) ClockOffset(context.Context) (time.Duration, error) { return s.offset, s.err }

// get scrapes m over HTTP and returns the status and the body.
func get(t *testing.T, m *Metrics) (int, string) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// What is read at scrape time, and what was observed, is served; a store that cannot be read
// leaves only its own metrics out, and says why in the log.
func TestScrape(t *testing.T) {
	tests := []struct {
		name     string
		src      source
		want     []string
		wantNot  []string
		wantLogs string
	}{
		{
			name: "counts, zeros for the model's other states, the offset",
			src:  source{counts: []store.ResourceCount{{Kind: store.KindBackup, State: "READY", Count: 1_000_000}}, offset: 90 * time.Minute},
			want: []string{
				`cloudhsm_local_resources{kind="backup",state="READY"} 1e+06`,
				`cloudhsm_local_resources{kind="cluster",state="ACTIVE"} 0`,
				`cloudhsm_local_resources{kind="hsm",state="DEGRADED"} 0`,
				`cloudhsm_local_clock_offset_seconds 5400`,
				`cloudhsm_local_requests_total{error="CloudHsmInvalidRequestException",operation="RestoreBackup",status="400"} 1`,
				`cloudhsm_local_request_duration_seconds_count{operation="RestoreBackup"} 1`,
				`cloudhsm_local_store_batch_updates_bucket{le="4"} 1`,
				`cloudhsm_local_store_errors_total{step="commit"} 1`,
			},
		},
		{
			name:     "a store that cannot be read",
			src:      source{err: errors.New("database is gone")},
			want:     []string{`cloudhsm_local_requests_total{error="CloudHsmInvalidRequestException",operation="RestoreBackup",status="400"} 1`},
			wantNot:  []string{"cloudhsm_local_resources{", "cloudhsm_local_clock_offset_seconds "},
			wantLogs: "database is gone",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := New(tc.src, slog.New(slog.NewTextHandler(&logs, nil)))
			m.Request(protocol.Outcome{Operation: "RestoreBackup", Status: 400, Error: "CloudHsmInvalidRequestException", Duration: time.Millisecond})
			m.Batch(3)
			m.Failure("commit")
			status, body := get(t, m)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d: %s", status, body)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want+"\n") {
					t.Errorf("the scrape lacks %s", want)
				}
			}
			for _, not := range tc.wantNot {
				if strings.Contains(body, not) {
					t.Errorf("the scrape has %s", not)
				}
			}
			if !strings.Contains(logs.String(), tc.wantLogs) {
				t.Errorf("the log lacks %q:\n%s", tc.wantLogs, logs.String())
			}
		})
	}
}

// TestReadmeListsEveryMetric: the README's table names every cloudhsm_local_ metric a scrape
// serves (each observed once here, so that every family has a sample).
func TestReadmeListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := New(source{counts: []store.ResourceCount{{Kind: store.KindHSM, State: "ACTIVE", Count: 1}}}, slog.New(slog.DiscardHandler))
	m.Request(protocol.Outcome{Operation: "CreateHsm", Status: 200})
	m.Batch(1)
	m.Failure("begin")
	_, body := get(t, m)
	families := regexp.MustCompile(`(?m)^# TYPE (cloudhsm_local_\w+) `).FindAllStringSubmatch(body, -1)
	if len(families) != 6 {
		t.Fatalf("the scrape has %d cloudhsm_local_ families, want 6:\n%s", len(families), body)
	}
	for _, f := range families {
		if !strings.Contains(string(readme), "| `"+f[1]+"`") && !strings.Contains(string(readme), "| `"+f[1]+"{") {
			t.Errorf("the README's table of metrics lacks %s", f[1])
		}
	}
}
