// Package console is the web console of cloudhsm-local, served under /_cloudhsm-local/console/
// (docs/BEHAVIOUR.md §9): server-rendered pages that show every account's clusters, HSMs and
// backups, the virtual clock, the fault rules and the request history, and forms that drive the
// lifecycle — move the clock, activate a cluster, take, delete and restore backups, add and
// clear fault rules, reset.
//
// It is one more front door onto the service, like the awsJson API and the admin API: every
// action calls the same service method those call, as the account and region the page shows,
// so the same rules and errors apply, and an error is shown in the page. It must never read or
// write the store, apply a rule of its own or hold state: a session is two cookies, checked
// without memory, so any replica answers any browser. Its assets are embedded: it works
// offline, with no CDN, fonts or Node toolchain. All resource data reaches the page through
// html/template, which escapes it.
//
// Security (docs/DECISIONS.md, "The console"): with an admin token (strict mode) every page but
// the login form needs a login cookie derived from the token; every POST carries a per-session
// CSRF token, checked in constant time, and is refused from other origins.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Prefix is the path under which the console lives.
const Prefix = "/_cloudhsm-local/console/"

// StatePath is the admin API's snapshot export (GET /_cloudhsm-local/state), which the
// overview's "Export snapshot" link points to.
const StatePath = "/_cloudhsm-local/state"

// Service is what the console asks of the service: the admin actions and the operations its
// pages read and its forms change. *service.Service is one. The operations MUST take the
// caller's identity from the context (identity.WithCaller), as they do for the API.
type Service interface {
	// VirtualNow returns the virtual time.
	VirtualNow(ctx context.Context) (time.Time, error)
	// AdvanceClock moves the virtual clock forward by d, applying everything due.
	AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error)
	// Activate makes an INITIALIZED cluster ACTIVE and takes a backup.
	Activate(ctx context.Context, clusterID string) (*api.Cluster, error)
	// TakeBackup backs up an ACTIVE cluster now.
	TakeBackup(ctx context.Context, clusterID string) (*api.Backup, error)
	// Reset empties the store.
	Reset(ctx context.Context) error
	// Census counts every account's resources by region and state.
	Census(ctx context.Context) ([]store.StateCount, error)
	// StoreKind names the store backend.
	StoreKind() string

	DescribeClusters(ctx context.Context, in *api.DescribeClustersRequest) (*api.DescribeClustersResponse, error)
	DescribeBackups(ctx context.Context, in *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error)
	DeleteBackup(ctx context.Context, in *api.DeleteBackupRequest) (*api.DeleteBackupResponse, error)
	RestoreBackup(ctx context.Context, in *api.RestoreBackupRequest) (*api.RestoreBackupResponse, error)
}

// Faults is the fault-injection rule set; *faults.Set is one. Every method MUST be safe for
// concurrent use, and Add MUST return an error wrapping faults.ErrInvalidRule, with a message
// for the user, for a rule it refuses.
type Faults interface {
	Add(faults.Rule) (faults.Status, error)
	List() []faults.Status
	Clear() int
}

// RequestLog is the request history the Requests page shows. Recent MUST return at most limit
// requests, newest first, and MUST be safe for concurrent use.
type RequestLog interface {
	Recent(limit int) []history.Request
}

// Config is what the console needs.
type Config struct {
	// Service is the service every page reads and every form calls (required).
	Service Service
	// Faults is the process's fault-injection rule set (required).
	Faults Faults
	// Requests is the request history; nil shows "request history is not enabled".
	Requests RequestLog
	// AdminToken, when set, is strict mode: every page needs a login with this token.
	AdminToken string
	// Version is the server version the overview shows.
	Version string
	// DefaultRegion is the region shown when the store holds nothing yet.
	DefaultRegion string
	// PendingDeletion and Tombstone are the lifecycle's windows (lifecycle.Config), which the
	// backup timelines draw: a backup is deleted PendingDeletion before its DeleteTimestamp,
	// and listed as DELETED for Tombstone after it.
	PendingDeletion, Tombstone time.Duration
	// Clock is the wall clock, for the virtual clock's offset; nil means clock.Real.
	Clock clock.Clock
	// Logger receives internal failures; nil discards them.
	Logger *slog.Logger
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// handler is the console: its configuration and its parsed pages, read-only after New.
type handler struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console's handler, to be mounted at Prefix. It fails only if an embedded
// template does not parse, which the package's tests rule out.
func New(cfg Config) (http.Handler, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, pages: pages, mux: http.NewServeMux()}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", staticHandler(static)))
	h.mux.HandleFunc("GET "+Prefix+"login", h.loginPage)
	h.mux.HandleFunc("POST "+Prefix+"login", h.login)
	h.mux.HandleFunc("POST "+Prefix+"logout", h.logout)

	h.page("GET "+Prefix+"{$}", h.overview)
	h.page("GET "+Prefix+"clusters", h.clusters)
	h.page("GET "+Prefix+"clusters/{id}", h.cluster)
	h.page("GET "+Prefix+"backups", h.backups)
	h.page("GET "+Prefix+"backups/{id}", h.backup)
	h.page("GET "+Prefix+"requests", h.requests)
	h.mux.Handle("GET "+Prefix+"clusters/{id}/certificates/{name}", h.guard(http.HandlerFunc(h.certificate)))
	h.mux.Handle("GET "+Prefix+"requests.json", h.guard(http.HandlerFunc(h.requestsJSON)))

	h.action("POST "+Prefix+"clock", h.advanceClock)
	h.action("POST "+Prefix+"clusters/{id}/activate", h.activate)
	h.action("POST "+Prefix+"clusters/{id}/backups", h.takeBackup)
	h.action("POST "+Prefix+"backups/{id}/delete", h.deleteBackup)
	h.action("POST "+Prefix+"backups/{id}/restore", h.restoreBackup)
	h.action("POST "+Prefix+"faults", h.addFault)
	h.action("POST "+Prefix+"faults/clear", h.clearFaults)
	h.action("POST "+Prefix+"reset", h.reset)
	h.page(Prefix, func(*http.Request) (view, error) {
		return view{}, statusError{http.StatusNotFound, "There is no such page in the console."}
	})
	return http.NewCrossOriginProtection().Handler(securityHeaders(h.mux)), nil
}

// staticHandler serves the embedded assets; browsers revalidate them, so a new binary's
// assets are seen at once.
func staticHandler(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every answer of the console carries: no script, style or
// image from anywhere but the console itself, no framing, no sniffing, no referrer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
