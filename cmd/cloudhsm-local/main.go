// Command cloudhsm-local runs a local, wire-compatible AWS CloudHSM v2 control plane, and
// drives a running one through its admin API.
//
//	cloudhsm-local [serve] [flags]         serve on 127.0.0.1:4580, state in ./cloudhsm-local.db
//	cloudhsm-local health                  show the server's health
//	cloudhsm-local clock [advance D | set T] show or move the virtual clock
//	cloudhsm-local activate CLUSTER_ID     activate an INITIALIZED cluster
//	cloudhsm-local take-backup CLUSTER_ID [--count N]  back up an ACTIVE cluster now (N times)
//	cloudhsm-local reset [--clock]         empty the store (and return the clock to real time)
//	cloudhsm-local faults [list | clear | add --operation OP ...]  fault injection
//	cloudhsm-local requests [--operation OP ...]  the most recent API calls, newest first
//	cloudhsm-local export [--out FILE]     the whole state as one JSON document
//	cloudhsm-local import FILE [--replace] load such a document
//	cloudhsm-local import FIXTURE          build a hand-written fixture (docs/FIXTURES.md) into an empty server
//	cloudhsm-local version                 the module version and commit it was built from
//
// Every flag has an environment twin: --store is CLOUDHSM_LOCAL_STORE, --auto-activate is
// CLOUDHSM_LOCAL_AUTO_ACTIVATE, and so on. Flags win over the environment.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
	"github.com/cloudhsm-local/cloudhsm-local/internal/topology"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage:
  cloudhsm-local [serve] [flags]            run the server (its flags: cloudhsm-local serve -h)
  cloudhsm-local health                     show the server's health
  cloudhsm-local clock                      show the virtual clock
  cloudhsm-local clock advance DURATION     move it forward, e.g. 168h
  cloudhsm-local clock set RFC3339_TIME     move it forward to a time
  cloudhsm-local activate CLUSTER_ID        activate an INITIALIZED cluster
  cloudhsm-local take-backup CLUSTER_ID     back up an ACTIVE cluster now
  cloudhsm-local take-backup CLUSTER_ID --count N
                                            N backups (1 to 10000) in one transaction, 1 ms apart
  cloudhsm-local reset [--clock]            empty the store (--clock: and return to real time)
  cloudhsm-local faults [list | clear]      list or remove the fault-injection rules
  cloudhsm-local faults add --operation OP [--error NAME] [--latency D] [--probability P | --count N]
                                            add one (or: faults add '{"operation":...}')
  cloudhsm-local requests [--operation OP] [--account ID] [--region R] [--error NAME|*] [--limit N]
                                            the most recent API calls, newest first
  cloudhsm-local export [--out FILE]        the whole state as one JSON document (default stdout)
  cloudhsm-local import FILE [--replace]    load one into an empty server, or in place of its state
  cloudhsm-local import FIXTURE             build a fixture ({"Fixture":1,...}) into an empty server
  cloudhsm-local version                    the version and commit it was built from (also --version)
  cloudhsm-local help                       this list (also -h, --help)
Admin subcommands take --endpoint (CLOUDHSM_LOCAL_ENDPOINT, default http://127.0.0.1:4580)
and, for a server in strict mode, --admin-token (CLOUDHSM_LOCAL_ADMIN_TOKEN).
`

// run is main without the process: arguments, environment and output are injected. It returns
// the exit status: 0 on success, 2 when the command line or the environment is wrong (unknown
// command, flag or argument, a value that does not parse), 1 when the command itself failed.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || topLevelCommand(args[0]) != "") {
		cmd, args = cmp.Or(topLevelCommand(args[0]), args[0]), args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stderr)
	case "health", "clock", "activate", "take-backup", "reset", "faults":
		err = adminCommand(ctx, cmd, args, getenv, stdout, stderr)
	case "requests":
		err = requestsCommand(ctx, args, getenv, stdout, stderr) // requests.go
	case "export":
		err = exportCommand(ctx, args, getenv, stdout, stderr) // state.go
	case "import":
		err = importCommand(ctx, args, getenv, stdout, stderr) // state.go
	case "help":
		fmt.Fprint(stdout, usage)
	case "version":
		err = printVersion(args, stdout) // version.go
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", cmd, usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "cloudhsm-local:", err)
		return 2
	}
	fmt.Fprintln(stderr, "cloudhsm-local:", err)
	return 1
}

// usageError marks a mistake in the command line or the environment (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// parseFlags parses args into fs and then fills unset flags from the environment; any
// failure other than -h is a usageError.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if err := applyEnv(fs, getenv); err != nil {
		return usageError{err}
	}
	return nil
}

// applyEnv sets every flag not given on the command line from its CLOUDHSM_LOCAL_* twin.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CLOUDHSM_LOCAL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && !given[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// serveFlags are the server's settings.
type serveFlags struct {
	addr, store, durability, region, topology, logLevel string
	logFormat                                           string
	delay                                               time.Duration
	delays                                              string
	pendingDeletion, tombstone                          time.Duration
	autoActivate                                        bool
	maxClusters, maxHSMs                                int
	auth, credentials, adminToken                       string
	history                                             int
	seed                                                string
}

// serveConfig is what the serve flags and their environment twins decide.
type serveConfig struct {
	addr        string
	server      server.Config
	credentials string // the credentials file of --auth sigv4, reloaded on SIGHUP
}

// parseServe reads the serve flags, then their CLOUDHSM_LOCAL_* twins for flags not given, and
// checks every value; all its errors are usageErrors (or flag.ErrHelp).
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	life, svcDefaults := lifecycle.DefaultConfig(), service.DefaultConfig()
	fs.StringVar(&f.addr, "addr", "127.0.0.1:4580", "address to listen on")
	fs.StringVar(&f.store, "store", "sqlite:cloudhsm-local.db", "where state lives: sqlite:PATH, memory, or postgres://USER@HOST:PORT/DB?sslmode=disable")
	fs.StringVar(&f.durability, "durability", string(sqlstore.DurabilityProcess), "process (acknowledged writes survive a crash of this process) or fsync (they are on disk before the answer; concurrent writes share a commit)")
	fs.StringVar(&f.region, "region", "us-east-1", "region of requests that carry no SigV4 credential scope")
	fs.StringVar(&f.topology, "topology", "", "subnet topology file (JSON: {\"subnets\":{\"subnet-…\":{\"vpc\":…,\"az\":…}}})")
	fs.DurationVar(&f.delay, "delay", 0, "how long every *_IN_PROGRESS state lasts")
	fs.StringVar(&f.delays, "delays", "", "per-transition delays, e.g. backup-create=5s,hsm-create=1m (transitions: "+transitionNames()+")")
	fs.DurationVar(&f.pendingDeletion, "pending-deletion", life.PendingDeletion, "how long a deleted backup stays restorable")
	fs.DurationVar(&f.tombstone, "tombstone", life.Tombstone, "how long DELETED backups and clusters stay listed")
	fs.BoolVar(&f.autoActivate, "auto-activate", false, "activate clusters as soon as they are INITIALIZED")
	fs.IntVar(&f.maxClusters, "max-clusters", svcDefaults.MaxClusters, "clusters per account and region")
	fs.IntVar(&f.maxHSMs, "max-hsms", svcDefaults.MaxHSMsPerCluster, "HSMs per cluster")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug (adds one line per API request), info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text (key=value) or json (one object a line), on stderr")
	fs.StringVar(&f.auth, "auth", authPermissive, "permissive (signatures not checked) or sigv4 (strict: verify against --credentials)")
	fs.StringVar(&f.credentials, "credentials", "", "credentials file of --auth sigv4 (JSON list; reloaded on SIGHUP)")
	fs.StringVar(&f.adminToken, "admin-token", "", "bearer token the admin API requires (needed with --auth sigv4); prefer the environment twin")
	fs.IntVar(&f.history, "history", history.DefaultCapacity, fmt.Sprintf("how many API requests this process keeps for GET /_cloudhsm-local/requests (up to %d; 0 turns it off)", history.MaxCapacity))
	fs.StringVar(&f.seed, "seed", "", "fixture file (docs/FIXTURES.md) to build at start into an empty store; a store with resources is left as it is")
	if err := parseFlags(fs, args, getenv); err != nil {
		return serveConfig{}, err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, usagef("serve takes no arguments, got %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return serveConfig{}, usagef("--log-level: %w", err)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"delay", f.delay}, {"pending-deletion", f.pendingDeletion}, {"tombstone", f.tombstone}} {
		if d.value < 0 {
			return serveConfig{}, usagef("--%s: %s is negative", d.name, d.value)
		}
	}
	if f.maxClusters < 1 || f.maxHSMs < 1 {
		return serveConfig{}, usagef("--max-clusters and --max-hsms must be at least 1, got %d and %d", f.maxClusters, f.maxHSMs)
	}
	if f.history < 0 || f.history > history.MaxCapacity {
		return serveConfig{}, usagef("--history must be from 0 (off) to %d requests, got %d", history.MaxCapacity, f.history)
	}

	life.DefaultDelay, life.PendingDeletion, life.Tombstone, life.AutoActivate = f.delay, f.pendingDeletion, f.tombstone, f.autoActivate
	var err error
	if life.Delays, err = parseDelays(f.delays); err != nil {
		return serveConfig{}, usageError{err}
	}
	svcCfg := service.Config{MaxClusters: f.maxClusters, MaxHSMsPerCluster: f.maxHSMs}
	if f.topology != "" {
		if svcCfg.Topology, err = topology.Load(f.topology); err != nil {
			return serveConfig{}, usageError{err}
		}
	}
	durability, err := sqlstore.ParseDurability(f.durability)
	if err != nil {
		return serveConfig{}, usagef("--durability: %w", err)
	}
	verifier, err := parseAuth(f.auth, f.credentials, f.adminToken)
	if err != nil {
		return serveConfig{}, err
	}
	logger, err := newLogger(f.logFormat, level, stderr) // logs.go
	if err != nil {
		return serveConfig{}, err
	}
	seed, err := readSeed(f.seed) // state.go
	if err != nil {
		return serveConfig{}, err
	}
	return serveConfig{addr: f.addr, credentials: f.credentials, server: server.Config{
		Store: f.store, Durability: durability, DefaultRegion: f.region, Lifecycle: life, Service: svcCfg, Logger: logger,
		Verifier: verifier, AdminToken: f.adminToken, History: f.history, Seed: seed,
	}}, nil
}

// serve runs the server until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	tuneGC(getenv) // gc.go
	srv, err := server.New(ctx, cfg.server)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return listenError(cfg.addr, err) // listen.go
	}
	auth := authPermissive
	if v := cfg.server.Verifier; v != nil {
		auth = authSigV4
		defer reloadOnHangup(ctx, v, cfg.credentials, cfg.server.Logger)()
	}
	cfg.server.Logger.Info("cloudhsm-local serving", "addr", ln.Addr().String(), "store", sqlstore.RedactDSN(cfg.server.Store), "version", server.Version, "auth", auth)
	return srv.Serve(ctx, ln, 10*time.Second)
}

func transitionNames() string {
	var names []string
	for _, t := range lifecycle.Transitions() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// parseDelays reads "name=duration,..." into per-transition delays.
func parseDelays(s string) (map[lifecycle.Transition]time.Duration, error) {
	out := map[lifecycle.Transition]time.Duration{}
	if s == "" {
		return out, nil
	}
	known := map[string]bool{}
	for _, t := range lifecycle.Transitions() {
		known[string(t)] = true
	}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !known[name] {
			return nil, fmt.Errorf("--delays: %q is not name=duration with a name among %s", part, transitionNames())
		}
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--delays: %s: %q is not a non-negative duration", name, value)
		}
		out[lifecycle.Transition(name)] = d
	}
	return out, nil
}

// adminCommand runs one admin subcommand against a running server and prints its JSON answer.
func adminCommand(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "http://127.0.0.1:4580", "the server's URL")
	token := fs.String("admin-token", "", "the server's admin token (strict mode); prefer CLOUDHSM_LOCAL_ADMIN_TOKEN")
	resetClock := resetFlag(cmd, fs) // reset.go
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	method, path, body, err := adminRequest(cmd, fs.Args())
	if err != nil {
		return err
	}
	if resetClock != nil && *resetClock {
		body = admin.ResetRequest{Clock: true}
	}
	client := admin.Client{Endpoint: *endpoint, HTTP: &http.Client{Timeout: 5 * time.Minute}, Token: *token}
	out, err := client.Call(ctx, method, path, body)
	if err != nil {
		return err
	}
	var pretty any
	if json.Unmarshal(out, &pretty) == nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(pretty)
	}
	_, err = stdout.Write(out)
	return err
}

// adminRequest maps a subcommand and its arguments to an admin API call.
func adminRequest(cmd string, args []string) (method, path string, body any, err error) {
	want := func(n int, what string) error {
		if len(args) != n {
			return usagef("%s takes %s\n%s", cmd, what, usage)
		}
		return nil
	}
	switch cmd {
	case "health":
		return http.MethodGet, "health", nil, want(0, "no arguments")
	case "reset":
		return http.MethodPost, "reset", nil, want(0, "no arguments")
	case "activate":
		if err := want(1, "a cluster ID"); err != nil {
			return "", "", nil, err
		}
		return http.MethodPost, "clusters/" + url.PathEscape(args[0]) + "/activate", nil, nil
	case "take-backup":
		return takeBackupRequest(args) // takebackup.go
	case "faults":
		return faultsRequest(args) // faults.go
	}
	// clock
	switch {
	case len(args) == 0:
		return http.MethodGet, "clock", nil, nil
	case len(args) == 2 && args[0] == "advance":
		return http.MethodPost, "clock", admin.ClockChange{Advance: args[1]}, nil
	case len(args) == 2 && args[0] == "set":
		return http.MethodPost, "clock", admin.ClockChange{Set: args[1]}, nil
	}
	return "", "", nil, usagef("clock takes no arguments, \"advance DURATION\" or \"set RFC3339_TIME\"\n%s", usage)
}
