// Command loadgen drives one workload against a running CloudHSM v2 endpoint (cloudhsm-local,
// the ceiling, moto) over loopback and prints requests/s and p50/p99 latency; bench/run.sh runs
// the whole suite, this is for one workload at a time.
//
//	loadgen -url http://127.0.0.1:4580 -workload describe-one [-c 16] [-d 5s] [-warmup 1s] [-n 0]
//
// Workloads:
//
//	describe-one    DescribeBackups of one backup by the backupIds filter (-backup ID)
//	page            DescribeBackups, first page of -max backups (default 50; the account must hold as many)
//	cluster-filter  DescribeBackups with the clusterIds filter (-cluster ID)
//	delete-restore  DeleteBackup then RestoreBackup on distinct backups (of -cluster ID)
//	create-cluster  CreateCluster
//
// Without -backup or -cluster, loadgen first makes what the workload needs on cloudhsm-local:
// an ACTIVE cluster (CreateCluster, CreateHsm, InitializeCluster with a fresh CA, admin
// activate) and, with -seed N, N more backups of it through the admin API.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	endpoint := flag.String("url", "http://127.0.0.1:4580", "endpoint to drive")
	workload := flag.String("workload", "describe-one", "describe-one, page, cluster-filter, delete-restore or create-cluster")
	conc := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 5*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "warm-up before measuring")
	count := flag.Int("n", 0, "stop after this many measured requests (0: only -d)")
	backupID := flag.String("backup", "", "backup to describe (describe-one)")
	clusterID := flag.String("cluster", "", "cluster whose backups to use (cluster-filter, delete-restore)")
	seed := flag.Int("seed", 0, "backups to add through the admin API before the run")
	pageSize := flag.Int("max", 50, "MaxResults of the page workload")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.Parse()

	c := loadgen.NewClient(*endpoint, *conc)
	defer c.Close()
	needsCluster := (*workload == "describe-one" && *backupID == "") ||
		((*workload == "cluster-filter" || *workload == "delete-restore") && *clusterID == "") ||
		*seed > 0
	var seeded []string
	if needsCluster && *clusterID == "" {
		id, b, err := c.ActiveCluster(ctx)
		if err != nil {
			return fmt.Errorf("set up an ACTIVE cluster: %w", err)
		}
		*clusterID = id
		if *backupID == "" {
			*backupID = b
		}
		seeded = append(seeded, b)
	}
	if *seed > 0 {
		t0 := time.Now()
		ids, err := c.TakeBackups(ctx, *clusterID, *seed, *conc)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		seeded = append(seeded, ids...)
		el := time.Since(t0)
		fmt.Fprintf(os.Stderr, "seeded %d backups in %s (%.0f/s)\n", *seed, el.Round(time.Millisecond), float64(*seed)/el.Seconds())
	}

	var op loadgen.Op
	switch *workload {
	case "describe-one":
		op = loadgen.Checked(c, "DescribeBackups", loadgen.DescribeBackupByID(*backupID), loadgen.ListsBackup(*backupID))
	case "page":
		op = loadgen.Checked(c, "DescribeBackups", loadgen.DescribeBackupsPage(*pageSize), loadgen.ListsBackups(*pageSize))
	case "cluster-filter":
		op = loadgen.Checked(c, "DescribeBackups", loadgen.DescribeBackupsOfCluster(*clusterID), loadgen.ListsBackupsOfCluster(*clusterID))
	case "delete-restore":
		if len(seeded) < *conc {
			return fmt.Errorf("delete-restore needs at least -c backups: pass -seed")
		}
		op, _ = loadgen.DeleteRestore(loadgen.Lanes(c, seeded, *conc)) // the seeded backups are not used again
	case "create-cluster":
		op = loadgen.Fixed(c, "CreateCluster", loadgen.CreateClusterBody())
	default:
		return fmt.Errorf("unknown workload %q", *workload)
	}
	res := loadgen.Run(ctx, loadgen.Options{Concurrency: *conc, Warmup: *warmup, Duration: *dur, MaxRequests: *count}, op)
	if *asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Printf("%-15s %s\n", *workload, res)
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d requests failed (%d with a wrong answer)", res.Errors, res.WrongAnswers)
	}
	return nil
}
