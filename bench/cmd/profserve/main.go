// Command profserve is cloudhsm-local assembled in-process exactly as cmd/cloudhsm-local does
// it (internal/server.New with the default lifecycle and service settings), plus the runtime
// profiler: net/http/pprof under /debug/pprof/ and, with -cpuprofile, a CPU profile of the
// whole run written at exit. bench/run.sh --profile serves the stores with it instead of the
// release binary, so each workload's CPU profile shows the server alone.
//
//	profserve [--addr 127.0.0.1:4580] [--store memory|sqlite:PATH|postgres://...] [--durability process|fsync]
//	          [--max-clusters N] [--cpuprofile FILE]
//
// It is a benchmarking aid, not a way to run the emulator: it has none of the serve
// subcommand's other flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	runtimepprof "runtime/pprof"
	"syscall"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:4580", "address to listen on")
	dsn := flag.String("store", "memory", "sqlite:PATH, memory or postgres://...")
	durability := flag.String("durability", string(sqlstore.DurabilityProcess), "process or fsync")
	maxClusters := flag.Int("max-clusters", service.DefaultConfig().MaxClusters, "clusters per account and region")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := runtimepprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			runtimepprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(100_000) // one sample per 100 µs blocked

	svcCfg := service.DefaultConfig()
	svcCfg.MaxClusters = *maxClusters
	srv, err := server.New(ctx, server.Config{
		Store: *dsn, Durability: sqlstore.Durability(*durability), DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: svcCfg,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", srv.Handler())

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shut)
	}()
	fmt.Fprintf(os.Stderr, "profserve serving %s on %s (pprof at /debug/pprof/)\n", *dsn, ln.Addr())
	if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}
