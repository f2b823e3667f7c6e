// Command benchrun is the benchmark suite behind bench/run.sh and BENCHMARKS.md. In one run on
// one machine it starts every target — the ceiling server, cloudhsm-local on each store
// (memory, a SQLite file, PostgreSQL when the binary supports it), a baseline build on
// PostgreSQL (postgres@base), a second replica on the SQLite file and on the PostgreSQL
// database, and moto's server — drives each workload against each of them with bench/loadgen
// and, for the fixed-body workloads, with wrk too, and writes the results as JSON, as markdown
// tables of ratios (cloudhsm-local / ceiling, cloudhsm-local / moto, this build / baseline,
// 2 replicas / 1), never bare numbers alone, and as SVG charts.
//
// The targets run side by side and each workload is measured on all of them back to back, so
// a ratio compares numbers taken seconds apart. The stores grow between phases (memory through
// the admin API's bulk take-backup, its only way; SQLite and PostgreSQL by copySeeder, directly
// in the database; moto through CreateCluster, which stores one backup each):
//
//	phase 1   cluster A (100 backups), cluster B (1)   describe-one (also wrk, baseline),
//	                                                   describe-one on 1 and 2 replicas
//	phase 2   1,000 backups (B grows)                  describe-one, cluster-filter on A (also wrk)
//	phase 3   10,000 backups                           describe-one, cluster-filter, page-50 (also
//	                                                   wrk), delete-restore (also --durability
//	                                                   fsync), delete-restore over 1-32 tenants
//	                                                   (also baseline, fsync), on 1 and 2 replicas,
//	                                                   create-cluster (also wrk)
//	phase 4   100,000, then -huge backups              describe-one, cluster-filter, resident memory
//	phase 5   every server stopped                     start to healthy, idle memory
//
// Cluster A's 100 backups are the oldest in the store: a cluster-filter page on A is the
// worst case for a store that walks backups in time order and filters the cluster afterwards.
// The fsync targets (sqlite-fsync, postgres-fsync: the same stores served with --durability
// fsync) run only the delete-restore workloads, the only ones with a durability target.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

type config struct {
	bin         string
	out, md     string
	conc        int
	dur, warmup time.Duration
	huge        int
	postgres    string
	python      string
	moto        bool
	profile     string
	pidFile     string
	workDir     string
	startups    int
	baseline    string
	wrk         bool
	tenants     []int
	replicas    bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bench/bin", "directory with the cloudhsm-local, ceiling and profserve binaries")
	flag.StringVar(&cfg.out, "out", "bench/results/latest.json", "where to write the results as JSON")
	flag.StringVar(&cfg.md, "md", "bench/results/latest.md", "where to write the markdown tables (also printed)")
	flag.IntVar(&cfg.conc, "c", 16, "concurrent clients of every workload")
	flag.DurationVar(&cfg.dur, "d", 2*time.Second, "measured duration of every workload (wrk rounds it to whole seconds)")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before every measurement")
	flag.IntVar(&cfg.huge, "huge", 1_000_000, "backups every store grows to in phase 4 (memory through the admin API, SQLite and PostgreSQL copied directly); 10000 or less skips phase 4")
	flag.StringVar(&cfg.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/cloudhsm_local_bench?sslmode=disable",
		"PostgreSQL DSN for the postgres store; its database, and the same name with "+fsyncSuffix+" for postgres-fsync and "+baseSuffix+" for postgres@base, are dropped and created (empty: skip all three)")
	flag.StringVar(&cfg.python, "python", "python3", "Python with moto installed")
	flag.BoolVar(&cfg.moto, "moto", true, "measure moto's server too")
	flag.StringVar(&cfg.profile, "profile", "", "serve the stores with profserve and save a CPU profile of each workload in this directory")
	flag.StringVar(&cfg.pidFile, "pidfile", "", "append the PID of every server started to this file")
	flag.IntVar(&cfg.startups, "startups", 5, "start-to-healthy samples per store")
	flag.StringVar(&cfg.baseline, "baseline", "535392a", "git ref of the build to compare with in the same run, served as postgres@base on its own database "+
		"(bench/run.sh builds it into BIN/baseline/cloudhsm-local; empty: no baseline)")
	flag.BoolVar(&cfg.wrk, "wrk", true, "also drive every fixed-body workload with wrk (2 threads, 32 connections)")
	rerender := flag.String("rerender", "", "measure nothing: read the results of an earlier run from this JSON file and write -md and the charts again")
	tenants := flag.String("tenants", "1,2,8,32", "tenant counts of the delete-restore-tenants workload (32 clients spread over that many accounts)")
	flag.BoolVar(&cfg.replicas, "replicas", true, "measure 2 replicas on one database against 1 (PostgreSQL and SQLite)")
	flag.Parse()
	for f := range strings.SplitSeq(*tenants, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > tenantWorkers {
			return fmt.Errorf("-tenants: %q is not a tenant count from 1 to %d", f, tenantWorkers)
		}
		cfg.tenants = append(cfg.tenants, n)
	}
	if *rerender != "" {
		raw, err := os.ReadFile(*rerender)
		if err != nil {
			return err
		}
		s := &suite{cfg: cfg, began: time.Now()}
		if err := json.Unmarshal(raw, &s.report); err != nil {
			return fmt.Errorf("%s: %w", *rerender, err)
		}
		s.cfg.out = *rerender
		return errors.Join(s.charts(), s.write())
	}
	if cfg.wrk {
		if _, err := exec.LookPath("wrk"); err != nil {
			return errors.New("wrk not found: install it (apt-get install -y wrk; bench/run.sh does) or pass -wrk=false")
		}
	}

	wd, err := os.MkdirTemp("", "cloudhsm-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(wd)
	cfg.workDir = wd
	if cfg.profile != "" {
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
	}

	s := &suite{cfg: cfg, ps: &procs{pidFile: cfg.pidFile, logDir: wd}, began: time.Now()}
	defer s.ps.stopAll()
	s.report.Command = command()
	s.report.StartedAt = s.began.UTC().Format(time.RFC3339)
	s.report.Options = Options{Concurrency: cfg.conc, Duration: cfg.dur.String(), Warmup: cfg.warmup.String(),
		Huge: cfg.huge, Profiled: cfg.profile != "", Baseline: cfg.baseline, BaselineCommit: baselineCommit(cfg.bin),
		Wrk: cfg.wrk, Tenants: cfg.tenants, TenantClients: tenantWorkers}
	s.report.Machine = describeMachine(cfg.python)
	s.report.Machine.FsyncP50Ms, s.report.Machine.FsyncP99Ms = probeFsync(wd)
	s.report.Skipped = map[string]string{}
	s.logf("machine: %d × %s, %d MiB, load %s; fsync p50 %.2f ms",
		s.report.Machine.CPUs, s.report.Machine.CPUModel, s.report.Machine.MemTotalMiB,
		s.report.Machine.LoadBefore, s.report.Machine.FsyncP50Ms)

	err = s.all(ctx)
	s.ps.stopAll()
	if cfg.postgres != "" {
		for _, dsn := range []string{cfg.postgres, suffixDSN(cfg.postgres, fsyncSuffix), suffixDSN(cfg.postgres, baseSuffix)} {
			if derr := dropDatabase(context.WithoutCancel(ctx), dsn); derr != nil && !errors.Is(derr, exec.ErrNotFound) {
				s.logf("postgres: %v", derr)
			}
		}
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted after %s; %s left as it was", time.Since(s.began).Round(time.Second), cfg.out)
	}
	if err != nil {
		return err
	}
	s.report.Machine.LoadAfter = loadAvg()
	s.report.FinishedAt = time.Now().UTC().Format(time.RFC3339)
	s.report.Seconds = time.Since(s.began).Seconds()
	s.report.Targets = evaluate(&s.report)
	cerr := s.charts() // first, so that the report lists them
	return errors.Join(cerr, s.write())
}

// targetKind says what a target is.
type targetKind int

const (
	kindCeiling targetKind = iota
	kindLocal
	kindMoto
)

// target is one server under measurement and the data it holds.
type target struct {
	name       string // ceiling, ceiling-50, memory, sqlite, postgres, sqlite-fsync, postgres-fsync, postgres@base, sqlite-2, postgres-2, moto
	kind       targetKind
	binary     string // the cloudhsm-local to run; empty: BIN/cloudhsm-local
	store      string // --store of a cloudhsm-local
	durability string // --durability of a cloudhsm-local; empty: the server's default
	path       string // the SQLite file of the sqlite store
	replicaOf  *target
	proc       *proc
	c          *loadgen.Client
	skip       string // why it is not measured
	tenants    []tenant

	clusterA, clusterB string
	describeID         string
	deleteIDs          []string // backups of B that delete-restore walks
	backups            int      // backups in the store
}

type suite struct {
	cfg     config
	ps      *procs
	began   time.Time
	report  Report
	targets []*target
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(s.began).Seconds(), fmt.Sprintf(format, args...))
}

// live returns the measured targets among names, in order.
func (s *suite) live(names ...string) []*target {
	var out []*target
	for _, n := range names {
		for _, t := range s.targets {
			if t.name == n && t.skip == "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func (s *suite) local() []*target { return s.live("memory", "sqlite", "postgres") }

func (s *suite) all(ctx context.Context) error {
	if err := s.startTargets(ctx); err != nil {
		return err
	}
	// Phase 1: a small store.
	for _, t := range s.live("memory", "sqlite", "postgres", "sqlite-fsync", "postgres-fsync", "postgres@base", "moto") {
		if err := s.setup(ctx, t); err != nil {
			return err
		}
	}
	s.measureAll(ctx, "describe-one", "ceiling", "memory", "sqlite", "postgres", "postgres@base", "moto")
	s.wrkAll(ctx, "describe-one", "ceiling", "memory", "sqlite", "postgres", "postgres@base", "moto")
	s.replicas(ctx, "describe-one")

	// Phase 2: 1,000 backups.
	s.growAll(ctx, 1000, "memory", "sqlite", "postgres", "moto")
	s.measureAll(ctx, "describe-one", "ceiling", "memory", "sqlite", "postgres")
	s.measureAll(ctx, "cluster-filter", "ceiling-50", "memory", "sqlite", "postgres", "moto")
	s.wrkAll(ctx, "cluster-filter", "ceiling-50", "memory", "sqlite", "postgres", "moto")

	// Phase 3: 10,000 backups (moto stays at 1,000: it stores ~200 backups/s).
	s.growAll(ctx, 10_000, "memory", "sqlite", "postgres", "sqlite-fsync", "postgres-fsync", "postgres@base")
	s.measureAll(ctx, "describe-one", "ceiling", "memory", "sqlite", "postgres")
	s.measureAll(ctx, "cluster-filter", "ceiling-50", "memory", "sqlite", "postgres")
	s.measureAll(ctx, "page-50", "ceiling-50", "memory", "sqlite", "postgres", "moto")
	s.wrkAll(ctx, "page-50", "ceiling-50", "memory", "sqlite", "postgres", "moto")
	s.measureAll(ctx, "delete-restore", "ceiling", "memory", "sqlite", "postgres", "sqlite-fsync", "postgres-fsync")
	s.tenantsAll(ctx)
	if slices.Contains(s.cfg.tenants, 8) {
		s.replicas(ctx, "delete-restore-tenants")
	}
	for _, t := range s.live("sqlite-fsync", "postgres-fsync", "postgres@base", "sqlite-2", "postgres-2") {
		t.proc.stop()
		t.skip = "stopped"
	}
	s.measureAll(ctx, "create-cluster", "ceiling", "memory", "sqlite", "postgres", "moto")
	s.wrkAll(ctx, "create-cluster", "ceiling", "memory", "sqlite", "postgres", "moto")
	for _, t := range s.live("moto") {
		s.figure("resident memory", "moto", t.memory().MiB(), "MiB", fmt.Sprintf("after the runs (%d backups seeded, one more per CreateCluster)", t.backups))
		t.proc.stop()
		t.skip = "stopped"
	}

	// Phase 4: the largest stores, grown to 100,000 (when -huge is larger) and then to -huge,
	// measured at each size.
	var sizes []int
	if s.cfg.huge > 100_000 {
		sizes = append(sizes, 100_000)
	}
	if s.cfg.huge > 10_000 {
		sizes = append(sizes, s.cfg.huge)
	}
	for _, n := range sizes {
		s.growAll(ctx, n, "memory", "sqlite", "postgres")
		s.measureAll(ctx, "describe-one", "ceiling", "memory", "sqlite", "postgres")
		s.measureAll(ctx, "cluster-filter", "ceiling-50", "memory", "sqlite", "postgres")
	}
	if s.cfg.huge > 10_000 {
		for _, t := range s.local() {
			s.figure("resident memory", t.name, t.memory().MiB(), "MiB", fmt.Sprintf("holding %d backups, after the runs", t.backups))
			if t.path != "" {
				s.figure("database size", t.name, fileSizeMiB(t.path), "MiB", fmt.Sprintf("%d backups, file and WAL", t.backups))
			}
		}
	}
	for _, t := range s.live("ceiling", "ceiling-50", "memory", "sqlite", "postgres") {
		t.proc.stop()
	}

	// Phase 5: start to healthy and idle memory, one server at a time.
	for _, t := range s.targets {
		if t.kind == kindLocal && (t.name == "sqlite" || t.name == "postgres") && t.backups > 10_000 && !strings.HasPrefix(t.skip, "not available") {
			s.startup(ctx, t.name, func(int) string { return t.store }, t.backups)
		}
	}
	s.startup(ctx, "memory", func(int) string { return "memory" }, 0)
	s.startup(ctx, "sqlite", func(i int) string { return "sqlite:" + filepath.Join(s.cfg.workDir, fmt.Sprintf("empty-%d.db", i)) }, 0)
	if _, skipped := s.report.Skipped["postgres"]; !skipped {
		s.startupEmptyPostgres(ctx)
	}
	return nil
}

// startupEmptyPostgres measures start to healthy on a fresh database each time (the first
// start of an empty database runs the migrations, as for SQLite).
func (s *suite) startupEmptyPostgres(ctx context.Context) {
	s.startup(ctx, "postgres", func(int) string {
		if err := recreateDatabase(ctx, s.cfg.postgres); err != nil {
			s.logf("postgres: %v", err)
		}
		return s.cfg.postgres
	}, 0)
}

// serverArgv is how a cloudhsm-local target is started: binary (empty: BIN/cloudhsm-local,
// or profserve with -profile) serving store; durability is its --durability, or empty for the
// server's default.
func (s *suite) serverArgv(binary, addr, store, durability string) []string {
	if binary == "" {
		binary = filepath.Join(s.cfg.bin, "cloudhsm-local")
		if s.cfg.profile != "" {
			binary = filepath.Join(s.cfg.bin, "profserve")
		}
	}
	argv := []string{binary, "serve", "--addr", addr, "--store", store, "--max-clusters", "100000000", "--log-level", "warn"}
	if filepath.Base(binary) == "profserve" {
		argv = []string{binary, "--addr", addr, "--store", store, "--max-clusters", "100000000"}
	}
	if durability != "" {
		argv = append(argv, "--durability", durability)
	}
	return argv
}

// startTargets starts every server and waits for each; a store the binary does not support,
// or a missing moto, is recorded as skipped with its reason. The replicas (a second server on
// the SQLite file and on the PostgreSQL database) start once the first server of their
// database is ready, so that only one of them creates the schema.
func (s *suite) startTargets(ctx context.Context) error {
	add := func(name string, kind targetKind, store string) *target {
		t := &target{name: name, kind: kind, store: store}
		s.targets = append(s.targets, t)
		return t
	}
	add("ceiling", kindCeiling, "")
	add("ceiling-50", kindCeiling, "")
	add("memory", kindLocal, "memory")
	sq := add("sqlite", kindLocal, "")
	sq.path = filepath.Join(s.cfg.workDir, "bench.db")
	sq.store = "sqlite:" + sq.path
	pg := add("postgres", kindLocal, s.cfg.postgres)
	sf := add("sqlite-fsync", kindLocal, "")
	sf.path = filepath.Join(s.cfg.workDir, "bench-fsync.db")
	sf.store = "sqlite:" + sf.path
	pf := add("postgres-fsync", kindLocal, suffixDSN(s.cfg.postgres, fsyncSuffix))
	pb := add("postgres@base", kindLocal, suffixDSN(s.cfg.postgres, baseSuffix))
	pb.binary = filepath.Join(s.cfg.bin, "baseline", "cloudhsm-local")
	for _, t := range []*target{pg, pf, pb} {
		if s.cfg.postgres == "" {
			t.skip = "not available: no -postgres DSN given"
		} else if err := recreateDatabase(ctx, t.store); err != nil {
			t.skip = "not available: " + err.Error()
		}
	}
	if s.cfg.baseline == "" {
		pb.skip = "not requested (-baseline \"\")"
	} else if _, err := os.Stat(pb.binary); err != nil {
		pb.skip = fmt.Sprintf("not available: no baseline build of %s (bench/run.sh builds it): %v", s.cfg.baseline, err)
	}
	sf.durability, pf.durability = "fsync", "fsync"
	mo := add("moto", kindMoto, "")
	if !s.cfg.moto {
		mo.skip = "not requested (-moto=false)"
	}
	first := slices.Clone(s.targets)
	for _, primary := range []*target{sq, pg} {
		r := add(primary.name+"-2", kindLocal, primary.store)
		r.path, r.replicaOf = primary.path, primary
		if !s.cfg.replicas {
			r.skip = "not requested (-replicas=false)"
		}
	}
	if err := s.launch(ctx, first); err != nil {
		return err
	}
	for _, r := range s.targets[len(first):] {
		if r.skip == "" && r.replicaOf.skip != "" {
			r.skip = r.replicaOf.name + " " + r.replicaOf.skip
		}
	}
	return s.launch(ctx, s.targets[len(first):])
}

// launch starts the targets at once and waits until each is ready.
func (s *suite) launch(ctx context.Context, targets []*target) error {
	began := time.Now()
	for _, t := range targets {
		if t.skip != "" {
			continue
		}
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		url := "http://" + addr
		var argv []string
		switch t.kind {
		case kindCeiling:
			n := "1"
			if t.name == "ceiling-50" {
				n = "50"
			}
			argv = []string{filepath.Join(s.cfg.bin, "ceiling"), "-addr", addr, "-backups", n}
		case kindLocal:
			argv = s.serverArgv(t.binary, addr, t.store, t.durability)
		case kindMoto:
			host, port, _ := strings.Cut(addr, ":")
			argv = []string{s.cfg.python, "-m", "moto.server", "-H", host, "-p", port}
		}
		p, err := s.ps.start(t.name, url, argv)
		if err != nil {
			if t.kind == kindCeiling || t.name == "memory" {
				return err
			}
			t.skip = "not available: " + err.Error()
			continue
		}
		t.proc = p
		t.c = loadgen.NewClient(url, max(s.cfg.conc, tenantWorkers))
	}
	for _, t := range targets {
		if t.skip != "" {
			s.report.Skipped[t.name] = t.skip
			s.logf("%-10s %s", t.name, t.skip)
			continue
		}
		path, okOnly, timeout := "/_cloudhsm-local/health", true, 20*time.Second
		if t.kind == kindMoto {
			path, okOnly, timeout = "/", false, 60*time.Second
		}
		took, err := waitReady(ctx, t.proc, t.proc.url+path, okOnly, began, timeout)
		if err != nil {
			if t.kind == kindCeiling || t.name == "memory" || t.name == "sqlite" {
				return err
			}
			t.skip = "not available: " + err.Error()
			s.report.Skipped[t.name] = t.skip
			s.logf("%-10s %s", t.name, t.skip)
			t.proc.stop()
			continue
		}
		if t.kind == kindMoto {
			s.figure("start to ready", "moto", ms(took), "ms", "started alongside the other targets")
		}
		s.logf("%-10s ready at %s (pid %d)", t.name, t.proc.url, t.proc.pid())
	}
	return nil
}

// recreateDatabase drops and creates the database named by a postgres DSN, through psql and
// the maintenance database "postgres", so the benchmark never touches anyone else's data.
func recreateDatabase(ctx context.Context, dsn string) error {
	name, admin, err := splitDSN(dsn)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("psql"); err != nil {
		return errors.New("psql not found to create the benchmark database")
	}
	for _, sql := range []string{`DROP DATABASE IF EXISTS "` + name + `"`, `CREATE DATABASE "` + name + `"`} {
		cmd := exec.CommandContext(ctx, "psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("psql %q: %v: %s", sql, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// dropDatabase drops the benchmark's database at the end of the run.
func dropDatabase(ctx context.Context, dsn string) error {
	name, admin, err := splitDSN(dsn)
	if err != nil {
		return err
	}
	sql := `DROP DATABASE IF EXISTS "` + name + `"`
	if out, err := exec.CommandContext(ctx, "psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql).CombinedOutput(); err != nil {
		return fmt.Errorf("psql %q: %v: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fsyncSuffix and baseSuffix name the databases of the postgres-fsync and postgres@base
// targets after the postgres target's.
const (
	fsyncSuffix = "_fsync"
	baseSuffix  = "_base"
)

// suffixDSN returns the postgres DSN with suffix added to its database name (or dsn
// unchanged if it names none, which recreateDatabase then reports).
func suffixDSN(dsn, suffix string) string {
	head, query, _ := strings.Cut(dsn, "?")
	if !strings.HasPrefix(head, "postgres://") || strings.Count(head, "/") < 3 || strings.HasSuffix(head, "/") {
		return dsn
	}
	if query != "" {
		return head + suffix + "?" + query
	}
	return head + suffix
}

// splitDSN returns a postgres DSN's database name and the same DSN on database "postgres".
func splitDSN(dsn string) (name, admin string, err error) {
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		return "", "", fmt.Errorf("%q is not a postgres:// DSN", dsn)
	}
	hostPart, dbPart, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%q names no database", dsn)
	}
	name, query, _ := strings.Cut(dbPart, "?")
	if name == "" || strings.ContainsAny(name, `"'; `) {
		return "", "", fmt.Errorf("%q has no usable database name", dsn)
	}
	admin = "postgres://" + hostPart + "/postgres"
	if query != "" {
		admin += "?" + query
	}
	return name, admin, nil
}

// setup creates a target's first data: on cloudhsm-local, an ACTIVE cluster A with 100
// backups and an ACTIVE cluster B with its activation backup; on moto (which has no HSMs,
// activation or admin API) one cluster, which comes with one backup.
func (s *suite) setup(ctx context.Context, t *target) error {
	t0 := time.Now()
	switch t.kind {
	case kindLocal:
		a, b0, err := t.c.ActiveCluster(ctx)
		if err != nil {
			return fmt.Errorf("%s: set up cluster A: %w", t.name, err)
		}
		if _, err := takeBackups(ctx, t.c, a, 99, 0); err != nil {
			return fmt.Errorf("%s: back up cluster A: %w", t.name, err)
		}
		b, bb, err := t.c.ActiveCluster(ctx)
		if err != nil {
			return fmt.Errorf("%s: set up cluster B: %w", t.name, err)
		}
		t.clusterA, t.clusterB, t.describeID, t.backups = a, b, b0, 101
		t.deleteIDs = []string{bb}
	case kindMoto:
		a, err := t.c.CreateCluster(ctx)
		if err != nil {
			return fmt.Errorf("moto: CreateCluster: %w", err)
		}
		ids, err := t.c.BackupsOf(ctx, a)
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("moto: the backup of cluster %s: %v (found %d)", a, err, len(ids))
		}
		t.clusterA, t.describeID, t.backups = a, ids[0], 1
	}
	s.logf("%-10s set up in %s", t.name, time.Since(t0).Round(time.Millisecond))
	return nil
}

// growAll grows the stores of the named targets to n backups, all at once: memory through
// the admin API's bulk take-backup (its only way), SQLite and PostgreSQL directly (copySeeder),
// moto through CreateCluster.
func (s *suite) growAll(ctx context.Context, n int, names ...string) {
	targets := s.live(names...)
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- s.grow(ctx, t, n) }()
	}
	for range targets {
		if err := <-errs; err != nil {
			s.logf("grow: %v", err)
		}
	}
}

func (s *suite) grow(ctx context.Context, t *target, n int) error {
	add := n - t.backups
	if add <= 0 || ctx.Err() != nil {
		return nil
	}
	t0 := time.Now()
	var how string
	fail := func(err error) error {
		t.skip = "seeding failed: " + err.Error()
		s.report.Skipped[t.name] = t.skip
		return fmt.Errorf("%s: %w", t.name, err)
	}
	switch {
	case t.kind == kindLocal && t.name != "memory":
		how = "copied directly in the database"
		sd, err := openSeeder(ctx, t.store)
		if err != nil {
			return fail(err)
		}
		defer sd.Close()
		if err := sd.grow(ctx, t.clusterB, n-100); err != nil { // cluster A holds the other 100
			return fail(err)
		}
		if len(t.deleteIDs) < 20_000 {
			if t.deleteIDs, err = sd.readyIDs(ctx, t.clusterB, 20_000); err != nil {
				return fail(err)
			}
		}
	case t.kind == kindLocal:
		how = fmt.Sprintf("admin take-backup, %d per request", bulkCount)
		ids, err := takeBackups(ctx, t.c, t.clusterB, add, 20_000-len(t.deleteIDs))
		if err != nil {
			return fail(err)
		}
		t.deleteIDs = append(t.deleteIDs, ids...)
	case t.kind == kindMoto:
		how = "CreateCluster"
		if _, err := t.c.CreateClusters(ctx, add, s.cfg.conc); err != nil {
			return fail(err)
		}
	}
	took := time.Since(t0)
	t.backups = n
	s.figure("seeding rate", t.name, float64(add)/took.Seconds(), "backups/s",
		fmt.Sprintf("%d backups in %.1fs, %s", add, took.Seconds(), how))
	s.logf("%-10s +%d backups in %s (%.0f/s, %s)", t.name, add, took.Round(time.Millisecond), float64(add)/took.Seconds(), how)
	return nil
}

// op builds a workload's request for a target, and what puts its backups back after a run
// (nil for all but delete-restore).
func (s *suite) op(workload string, t *target) (loadgen.Op, func(context.Context) error, error) {
	switch workload {
	case "describe-one":
		id := t.describeID
		if t.kind == kindCeiling {
			id = "backup-00000000000"
		}
		return loadgen.Checked(t.c, "DescribeBackups", loadgen.DescribeBackupByID(id), loadgen.ListsBackup(id)), nil, nil
	case "cluster-filter":
		id := t.clusterA
		if t.kind == kindCeiling {
			id = "cluster-abcdefghijk"
		}
		return loadgen.Checked(t.c, "DescribeBackups", loadgen.DescribeBackupsOfCluster(id), loadgen.ListsBackupsOfCluster(id)), nil, nil
	case "page-50":
		return loadgen.Checked(t.c, "DescribeBackups", loadgen.DescribeBackupsPage(50), loadgen.ListsBackups(50)), nil, nil
	case "delete-restore":
		ids := t.deleteIDs
		if t.kind == kindCeiling {
			ids = make([]string, 4*s.cfg.conc)
			for i := range ids {
				ids[i] = fmt.Sprintf("backup-%011d", i)
			}
		}
		if len(ids) < s.cfg.conc {
			return nil, nil, fmt.Errorf("only %d backups to delete and restore", len(ids))
		}
		op, settle := loadgen.DeleteRestore(loadgen.Lanes(t.c, ids, s.cfg.conc))
		return op, settle, nil
	case "create-cluster":
		return loadgen.Fixed(t.c, "CreateCluster", loadgen.CreateClusterBody()), nil, nil
	}
	return nil, nil, fmt.Errorf("unknown workload %q", workload)
}

// measureAll runs one workload against each named target in turn.
func (s *suite) measureAll(ctx context.Context, workload string, names ...string) {
	for _, t := range s.live(names...) {
		if ctx.Err() != nil {
			return
		}
		op, settle, err := s.op(workload, t)
		if err != nil {
			s.logf("%s on %s: %v", workload, t.name, err)
			continue
		}
		s.measure(ctx, Measurement{Workload: workload, Target: t.name, Backups: t.backups}, t, op, settle, s.options(workload))
	}
}

// measure drives op with opts against t (profiling it with -profile) and records m with the
// result; m says what was measured. settle, if not nil, runs after the measurement and puts
// back what the run left half done.
func (s *suite) measure(ctx context.Context, m Measurement, t *target, op loadgen.Op, settle func(context.Context) error, opts loadgen.Options) {
	m.Target = t.name
	if t.kind == kindCeiling {
		m.Backups = 0
	}
	var profiled chan string
	if s.cfg.profile != "" && t.kind == kindLocal && t.binary == "" {
		profiled = make(chan string, 1)
		go func() { profiled <- s.profile(ctx, t, m.Workload) }()
	}
	m.Result = loadgen.Run(ctx, opts, op)
	if profiled != nil {
		m.Profile = <-profiled
	}
	s.report.Measurements = append(s.report.Measurements, m)
	s.logf("%-14s %-10s %7d backups %s", m.label(), t.name, m.Backups, m.Result)
	if settle != nil {
		if err := settle(ctx); err != nil {
			s.logf("%s on %s: settle: %v", m.label(), t.name, err)
		}
	}
}

// wrkAll runs one fixed-body workload with wrk against each named target in turn.
func (s *suite) wrkAll(ctx context.Context, workload string, names ...string) {
	if !s.cfg.wrk {
		return
	}
	for _, t := range s.live(names...) {
		if ctx.Err() != nil {
			return
		}
		m := Measurement{Workload: workload, Target: t.name, Backups: t.backups}
		if t.kind == kindCeiling {
			m.Backups = 0
		}
		res, err := runWrk(ctx, s.cfg.workDir, t.proc.url+"/", s.wrkRequest(workload, t), s.cfg.warmup, s.cfg.dur)
		if err != nil {
			s.logf("wrk %s on %s: %v", workload, t.name, err)
			res.FirstError, res.Errors = err.Error(), 1
		}
		m.Result = res
		s.report.Wrk = append(s.report.Wrk, m)
		s.logf("wrk %-10s %-10s %7d backups %s", workload, t.name, m.Backups, m.Result)
	}
}

// wrkRequest is a fixed-body workload's request for wrk, with the string its answer must hold.
func (s *suite) wrkRequest(workload string, t *target) wrkRequest {
	switch workload {
	case "describe-one":
		id := t.describeID
		if t.kind == kindCeiling {
			id = "backup-00000000000"
		}
		return newWrkRequest(t.c, "DescribeBackups", loadgen.DescribeBackupByID(id), `"`+id+`"`)
	case "cluster-filter":
		id := t.clusterA
		if t.kind == kindCeiling {
			id = "cluster-abcdefghijk"
		}
		return newWrkRequest(t.c, "DescribeBackups", loadgen.DescribeBackupsOfCluster(id), `"`+id+`"`)
	case "page-50":
		return newWrkRequest(t.c, "DescribeBackups", loadgen.DescribeBackupsPage(50), `"NextToken"`)
	default: // create-cluster
		return newWrkRequest(t.c, "CreateCluster", loadgen.CreateClusterBody(), `"ClusterId"`)
	}
}

// options are how a workload is driven: every workload with -c clients, except
// cluster-filter, which is one client polling its cluster's backups — its target is about
// latency, and one slow request there can take seconds, so it warms up for at most 200 ms and
// runs until it has 3 answers (for at most a minute).
func (s *suite) options(workload string) loadgen.Options {
	o := loadgen.Options{Concurrency: s.cfg.conc, Warmup: s.cfg.warmup, Duration: s.cfg.dur}
	if workload == "cluster-filter" {
		o.Concurrency, o.Warmup, o.MinRequests, o.MaxTime = 1, min(o.Warmup, 200*time.Millisecond), 3, time.Minute
	}
	return o
}

// profile saves a CPU profile of the measured window of a workload on a profserve target.
func (s *suite) profile(ctx context.Context, t *target, workload string) string {
	select {
	case <-time.After(s.cfg.warmup):
	case <-ctx.Done():
		return ""
	}
	secs := max(1, int(s.cfg.dur.Seconds()))
	resp, err := http.Get(t.proc.url + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	path := filepath.Join(s.cfg.profile, fmt.Sprintf("%s-%s-%d.pprof", t.name, workload, t.backups))
	f, err := os.Create(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return ""
	}
	return path
}

// startup starts a store's server n times on its own and records how long each took to
// answer GET /_cloudhsm-local/health with 200, and its resident memory half a second later.
func (s *suite) startup(ctx context.Context, name string, storeOf func(i int) string, backups int) {
	var took []float64
	var rss []float64
	for i := range s.cfg.startups {
		if ctx.Err() != nil {
			return
		}
		addr, err := freeAddr()
		if err != nil {
			return
		}
		argv := s.serverArgv("", addr, storeOf(i), "")
		t0 := time.Now()
		p, err := s.ps.start(fmt.Sprintf("startup-%s-%d-%d", name, backups, i), "http://"+addr, argv)
		if err != nil {
			s.logf("startup %s: %v", name, err)
			return
		}
		d, err := waitReady(ctx, p, p.url+"/_cloudhsm-local/health", true, t0, 60*time.Second)
		if err != nil {
			s.logf("startup %s: %v", name, err)
			p.stop()
			return
		}
		time.Sleep(500 * time.Millisecond)
		m, _ := residentMemory(p.pid())
		p.stop()
		took = append(took, ms(d))
		rss = append(rss, m.MiB())
	}
	what := "empty store"
	if backups > 0 {
		what = fmt.Sprintf("%d backups", backups)
	}
	s.figure("start to healthy", name, median(took), "ms", fmt.Sprintf("%s; median of %d starts, all: %s", what, len(took), joinFloats(took, 1)))
	s.figure("resident memory idle", name, median(rss), "MiB", fmt.Sprintf("%s; 0.5 s after healthy, median of %d", what, len(rss)))
	s.logf("startup    %-10s %-16s %.1f ms to healthy, %.1f MiB idle", name, what, median(took), median(rss))
}

// memory reads a live target's resident memory.
func (t *target) memory() memory {
	if t.proc == nil {
		return memory{}
	}
	m, _ := residentMemory(t.proc.pid())
	return m
}

func (s *suite) figure(name, target string, value float64, unit, note string) {
	s.report.Figures = append(s.report.Figures, Figure{Name: name, Target: target, Value: round(value, 2), Unit: unit, Note: note})
}

// write saves the JSON and markdown results and prints the markdown.
func (s *suite) write() error {
	for _, p := range []string{s.cfg.out, s.cfg.md} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
	}
	raw, err := json.MarshalIndent(s.report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.cfg.out, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(&s.report)
	if err := os.WriteFile(s.cfg.md, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	s.logf("wrote %s and %s", s.cfg.out, s.cfg.md)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}

func joinFloats(v []float64, prec int) string {
	parts := make([]string, len(v))
	for i, f := range v {
		parts[i] = strconv.FormatFloat(f, 'f', prec, 64)
	}
	return strings.Join(parts, ", ")
}

// command is how bench/run.sh was called: its name and the benchrun flags that were set, but
// for the ones run.sh itself passes.
func command() string {
	parts := []string{"bench/run.sh"}
	flag.Visit(func(f *flag.Flag) {
		if v := f.Value.String(); f.Name != "bin" && f.Name != "pidfile" {
			if v == "" || strings.ContainsAny(v, " \t\"'") {
				v = strconv.Quote(v)
			}
			parts = append(parts, "-"+f.Name+" "+v)
		}
	})
	return strings.Join(parts, " ")
}
