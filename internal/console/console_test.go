package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

func TestSafeReturn(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"a console page with its query comes back", Prefix + "backups?account=111122223333&region=us-east-1", Prefix + "backups?account=111122223333&region=us-east-1"},
		{"the overview", Prefix, Prefix},
		{"empty goes to the overview", "", Prefix},
		{"another site never", "https://example.com" + Prefix, Prefix},
		{"a scheme-relative URL never", "//example.com" + Prefix, Prefix},
		{"a backslash trick never", "/\\example.com" + Prefix, Prefix},
		{"outside the console never", "/_cloudhsm-local/reset", Prefix},
		{"a dot-dot escape never", Prefix + "../reset", Prefix},
		{"a javascript URL never", "javascript:alert(1)", Prefix},
		{"a header split never", Prefix + "\r\nSet-Cookie: x=y", Prefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := safeReturn(tc.in); got != tc.want {
				t.Fatalf("safeReturn(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAdvance(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		refused string // part of the error message; "" for none
	}{
		{"1h", time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"8d", 8 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"192h", 192 * time.Hour, ""},
		{"", 0, "such as 1h"},
		{"soon", 0, "such as 1h"},
		{"xd", 0, "such as 1h"},
		{"-1h", 0, "only moves forward"},
		{"0s", 0, "only moves forward"},
		{"4000d", 0, "ten years"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseAdvance(tc.in)
			switch {
			case tc.refused == "" && (err != nil || got != tc.want):
				t.Fatalf("parseAdvance(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Fatalf("parseAdvance(%q) = %s, %v; want an error saying %q", tc.in, got, err, tc.refused)
			}
			var se statusError
			if err != nil && (!errors.As(err, &se) || se.status != http.StatusBadRequest) {
				t.Fatalf("parseAdvance(%q) error %v is not a 400", tc.in, err)
			}
		})
	}
}

func TestSignedDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "+0d 0h 0m 0s"},
		{8*24*time.Hour + 1500*time.Millisecond, "+8d 0h 0m 2s"},
		{-90 * time.Minute, "−0d 1h 30m 0s"},
	} {
		if got := signedDuration(tc.in); got != tc.want {
			t.Errorf("signedDuration(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTimeline pins the drawing of each state of a backup's life on one axis: which stretches
// are past and which to come, and where now is.
func TestTimeline(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
	h := &handler{cfg: Config{PendingDeletion: 7 * day, Tombstone: 7 * day}}
	stamp := func(t time.Time) *api.Timestamp { return api.NewTimestamp(t) }
	backup := func(state string, deleteAt time.Time) api.Backup {
		b := api.Backup{BackupState: &state, CreateTimestamp: stamp(t0)}
		if !deleteAt.IsZero() {
			b.DeleteTimestamp = stamp(deleteAt)
		}
		return b
	}
	type drawn struct {
		class  string
		future bool
	}
	for _, tc := range []struct {
		name   string
		backup api.Backup
		now    time.Time
		want   []drawn
		marks  int
	}{
		{"READY: one stretch up to now", backup(api.BackupStateReady, time.Time{}), t0.Add(2 * day), []drawn{{"ok", false}}, 1},
		{"CREATE_IN_PROGRESS", backup(api.BackupStateCreateInProgress, time.Time{}), t0.Add(time.Hour), []drawn{{"busy", false}}, 1},
		{"PENDING_DELETION: ready, pending so far, pending to come", backup(api.BackupStatePendingDeletion, t0.Add(9*day)), t0.Add(3 * day),
			[]drawn{{"ok", false}, {"warn", false}, {"warn", true}}, 3},
		{"DELETED: ready, pending, deleted so far, listed to come", backup(api.BackupStateDeleted, t0.Add(9*day)), t0.Add(10 * day),
			[]drawn{{"ok", false}, {"warn", false}, {"gone", false}, {"gone", true}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := h.events(tc.backup)
			ax := axisFor([]events{ev}, tc.now, 200)
			tl := drawTimeline(ev, tc.now, ax, false)
			var got []drawn
			for _, b := range tl.Bars {
				got = append(got, drawn{b.Class, b.Future})
				if b.X < 0 || b.X+b.W > ax.width+1 {
					t.Errorf("bar %+v is off the %g px axis", b, ax.width)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("bars %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("bars %+v, want %+v", got, tc.want)
				}
			}
			if len(tl.Marks) != tc.marks {
				t.Errorf("%d marks %+v, want %d", len(tl.Marks), tl.Marks, tc.marks)
			}
			if tl.NowX != ax.x(tc.now) || tl.NowX <= 0 || tl.NowX >= ax.width {
				t.Errorf("now is at %g, want %g inside the axis", tl.NowX, ax.x(tc.now))
			}
		})
	}
}

// failingStore is a Service whose store fails every census; the methods it does not define are
// never called by the overview.
type failingStore struct{ Service }

func (failingStore) VirtualNow(context.Context) (time.Time, error) { return time.Time{}, nil }
func (failingStore) StoreKind() string                             { return "memory" }
func (failingStore) Census(context.Context) ([]store.StateCount, error) {
	return nil, errors.New(`census: SQL logic error near "GROUP"`)
}

// TestInternalFailuresAreNotShown: a page that fails inside answers 500 and says so, without
// the cause, which only the log gets.
func TestInternalFailuresAreNotShown(t *testing.T) {
	h, err := New(Config{Service: failingStore{}, Faults: faults.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", "backups", "clusters"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Prefix+path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusInternalServerError || !strings.Contains(string(body), failedMessage) || strings.Contains(string(body), "SQL") {
			t.Errorf("GET %s: %d, body shows the failure %v and its cause %v; want 500, the failure, not the cause",
				Prefix+path, rec.Code, strings.Contains(string(body), failedMessage), strings.Contains(string(body), "SQL"))
		}
	}
}
