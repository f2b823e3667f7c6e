package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/bench/loadgen"
)

// Report is everything one run measured; bench/results/latest.json is this, indented.
type Report struct {
	Command      string            `json:"command"`
	StartedAt    string            `json:"started_at"`
	FinishedAt   string            `json:"finished_at"`
	Seconds      float64           `json:"seconds"`
	Options      Options           `json:"options"`
	Machine      Machine           `json:"machine"`
	Skipped      map[string]string `json:"skipped,omitempty"`
	Targets      []TargetRow       `json:"targets"`
	Measurements []Measurement     `json:"measurements"`
	// Wrk are the fixed-body workloads driven by wrk (2 threads, 32 connections) against the
	// same targets, right after loadgen's measurement of each.
	Wrk     []Measurement `json:"wrk,omitempty"`
	Figures []Figure      `json:"figures"`
	Charts  []string      `json:"charts,omitempty"` // the SVG files written
}

// Options are the run's settings.
type Options struct {
	Concurrency int    `json:"concurrency"`
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Huge        int    `json:"huge"`
	Profiled    bool   `json:"profiled"`
	// Baseline is the git ref served as postgres@base, built from BaselineCommit.
	Baseline       string `json:"baseline,omitempty"`
	BaselineCommit string `json:"baseline_commit,omitempty"`
	Wrk            bool   `json:"wrk"`
	Tenants        []int  `json:"tenants"`        // tenant counts of delete-restore-tenants
	TenantClients  int    `json:"tenant_clients"` // clients of delete-restore-tenants and the replica workloads
}

// Measurement is one workload driven against one target.
type Measurement struct {
	Workload string `json:"workload"`
	Target   string `json:"target"`
	Backups  int    `json:"backups,omitempty"` // backups of account 111122223333 while measured
	// Tenants is how many accounts the clients were spread over (delete-restore-tenants).
	Tenants int `json:"tenants,omitempty"`
	// Replicas is how many servers on one database the clients were spread over.
	Replicas int `json:"replicas,omitempty"`
	loadgen.Result
	Profile string `json:"profile,omitempty"`
}

// label names the workload with its tenants and replicas, as the logs and tables show it.
func (m Measurement) label() string {
	l := m.Workload
	if m.Tenants > 0 {
		l += fmt.Sprintf(" ×%d tenants", m.Tenants)
	}
	if m.Replicas > 0 {
		l += fmt.Sprintf(" ×%d replicas", m.Replicas)
	}
	return l
}

// Figure is a single number that is not a throughput: a start time, a memory size, a rate.
type Figure struct {
	Name   string  `json:"name"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Note   string  `json:"note,omitempty"`
}

// TargetRow is one row of issue 5's table for one store, with what was measured and whether
// the target is met.
type TargetRow struct {
	Workload string  `json:"workload"`
	Goal     string  `json:"goal"`
	Store    string  `json:"store"`
	Measured string  `json:"measured"`
	Ratio    float64 `json:"ratio,omitempty"`
	Met      string  `json:"met"` // met, missed, or n/a
}

var stores = []string{"memory", "sqlite", "postgres"}

// get finds a measurement; backups < 0 matches any store size.
func (r *Report) get(workload, target string, backups int) *Measurement {
	for i := range r.Measurements {
		m := &r.Measurements[i]
		if m.Workload == workload && m.Target == target && (backups < 0 || m.Backups == backups) && m.Requests > 0 {
			return m
		}
	}
	return nil
}

// figure finds a figure whose note starts with notePrefix.
func (r *Report) figure(name, target, notePrefix string) *Figure {
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.Name == name && f.Target == target && strings.HasPrefix(f.Note, notePrefix) {
			return f
		}
	}
	return nil
}

// largest returns the cluster-filter measurement of target at the most backups.
func (r *Report) largest(workload, target string) *Measurement {
	var best *Measurement
	for i := range r.Measurements {
		m := &r.Measurements[i]
		if m.Workload == workload && m.Target == target && m.Requests > 0 && (best == nil || m.Backups > best.Backups) {
			best = m
		}
	}
	return best
}

func (r *Report) skipped(store string) string {
	if why, ok := r.Skipped[store]; ok {
		return why
	}
	return "not measured"
}

// evaluate fills in issue 5's table from the measurements.
func evaluate(r *Report) []TargetRow {
	var rows []TargetRow
	ratioRow := func(workload, goal, ceiling string, min float64, extra func(store string, m *Measurement) string) {
		c := r.get(workload, ceiling, -1)
		for _, st := range stores {
			row := TargetRow{Workload: workload, Goal: goal, Store: st, Met: "n/a"}
			m := r.get(workload, st, -1)
			switch {
			case m == nil:
				row.Measured = r.skipped(st)
			case c == nil:
				row.Measured = fmt.Sprintf("%s req/s; no ceiling measurement", num(m.RPS))
			default:
				row.Ratio = round(m.RPS/c.RPS, 3)
				row.Measured = fmt.Sprintf("%s / %s req/s = **%s**", num(m.RPS), num(c.RPS), pct(row.Ratio))
				row.Met = metIf(row.Ratio >= min)
			}
			if m != nil && extra != nil {
				row.Measured += extra(st, m)
			}
			rows = append(rows, row)
		}
	}
	ratioRow("describe-one", "DescribeBackups of one backup by backupIds: ≥ 40% of the ceiling's requests/s", "ceiling", 0.40, nil)
	ratioRow("page-50", "DescribeBackups, page of 50 from 10,000 backups: ≥ 15% of the ceiling", "ceiling-50", 0.15,
		func(_ string, m *Measurement) string {
			if c1 := r.get("describe-one", "ceiling", -1); c1 != nil {
				return fmt.Sprintf(" (ceiling with a 50-backup body; %s of the 1-backup ceiling)", pct(m.RPS/c1.RPS))
			}
			return " (ceiling with a 50-backup body)"
		})
	ratioRow("delete-restore", "DeleteBackup/RestoreBackup cycle on distinct backups, acknowledged after commit: ≥ 25% of the ceiling", "ceiling", 0.25,
		func(st string, _ *Measurement) string {
			if st == "sqlite" {
				return " (WAL, synchronous=NORMAL: commits are not fsynced)"
			}
			return ""
		})

	for _, st := range stores {
		row := TargetRow{Workload: "delete-restore-fsync", Goal: "same, served with --durability fsync (every acknowledged write fsynced, group commit): ≥ 5,000 ops/s", Store: st, Met: "n/a"}
		c, m := r.get("delete-restore", "ceiling", -1), r.get("delete-restore", st+"-fsync", -1)
		switch {
		case st == "memory":
			row.Measured = "not applicable: the memory store keeps nothing past its process, so there is nothing to fsync"
		case m == nil:
			row.Measured = r.skipped(st + "-fsync")
		default:
			row.Measured = fmt.Sprintf("**%s ops/s**", num(m.RPS))
			if c != nil {
				row.Ratio = round(m.RPS/c.RPS, 3)
				row.Measured += fmt.Sprintf(" = %s of the ceiling's %s req/s", pct(row.Ratio), num(c.RPS))
			}
			row.Measured += fmt.Sprintf(" (p50 %.2f ms; this disk's write+fsync p50 is %.2f ms)", m.P50Ms, r.Machine.FsyncP50Ms)
			row.Met = metIf(m.RPS >= 5000)
		}
		rows = append(rows, row)
	}

	for _, st := range stores {
		row := TargetRow{Workload: "cluster-filter", Goal: "DescribeBackups with clusterIds at 1,000,000 backups: p50 ≤ 2 × the p50 at 1,000", Store: st, Met: "n/a"}
		base, big := r.get("cluster-filter", st, 1000), r.largest("cluster-filter", st)
		switch {
		case base == nil || big == nil:
			row.Measured = r.skipped(st)
		case big.Backups == base.Backups:
			row.Measured = fmt.Sprintf("only measured at %s backups (p50 %.2f ms)", num(float64(base.Backups)), base.P50Ms)
		default:
			row.Ratio = round(big.P50Ms/base.P50Ms, 2)
			row.Measured = fmt.Sprintf("p50 %.2f ms at %s vs %.2f ms at 1,000 = **%.2f×**; req/s %s vs %s",
				big.P50Ms, num(float64(big.Backups)), base.P50Ms, row.Ratio, num(big.RPS), num(base.RPS))
			row.Met = metIf(row.Ratio <= 2)
			if big.Backups < 1_000_000 {
				row.Measured += fmt.Sprintf(" (at %s, not 1,000,000: the run's -huge setting)", num(float64(big.Backups)))
			}
		}
		rows = append(rows, row)
	}

	for _, st := range stores {
		row := TargetRow{Workload: "start-to-healthy", Goal: "start to healthy, empty store: ≤ 100 ms", Store: st, Met: "n/a", Measured: r.skipped(st)}
		if f := r.figure("start to healthy", st, "empty store"); f != nil {
			row.Measured, row.Ratio, row.Met = fmt.Sprintf("**%.1f ms** (%s)", f.Value, f.Note), f.Value, metIf(f.Value <= 100)
		}
		rows = append(rows, row)
	}
	for _, st := range stores {
		row := TargetRow{Workload: "start-to-healthy-1m", Goal: "start to healthy with 1,000,000 backups: ≤ 300 ms", Store: st, Met: "n/a", Measured: r.skipped(st)}
		if st == "memory" {
			row.Measured = "not applicable: a memory store always starts empty"
		}
		for _, f := range r.Figures {
			if f.Name == "start to healthy" && f.Target == st && !strings.HasPrefix(f.Note, "empty store") {
				row.Measured, row.Ratio, row.Met = fmt.Sprintf("**%.1f ms** (%s)", f.Value, f.Note), f.Value, metIf(f.Value <= 300)
				if n := backupsIn(f.Note); n < 1_000_000 {
					row.Met += fmt.Sprintf(" (at %s backups)", num(float64(n)))
				}
			}
		}
		rows = append(rows, row)
	}
	for _, st := range stores {
		row := TargetRow{Workload: "memory-idle", Goal: "resident memory idle: ≤ 40 MiB", Store: st, Met: "n/a", Measured: r.skipped(st)}
		if f := r.figure("resident memory idle", st, "empty store"); f != nil {
			row.Measured, row.Ratio, row.Met = fmt.Sprintf("**%.1f MiB** (VmRSS, %s)", f.Value, f.Note), f.Value, metIf(f.Value <= 40)
		}
		rows = append(rows, row)
	}
	for _, st := range stores {
		row := TargetRow{Workload: "memory-1m", Goal: "resident memory while holding 1,000,000 backups: ≤ 150 MiB", Store: st, Met: "n/a", Measured: r.skipped(st)}
		var held *Figure
		for i := range r.Figures {
			f := &r.Figures[i]
			if f.Name == "resident memory" && f.Target == st && (held == nil || backupsIn(f.Note) > backupsIn(held.Note)) {
				held = f
			}
		}
		idle := r.figure("resident memory idle", st, "empty store")
		if held != nil {
			n := backupsIn(held.Note)
			if n >= 1_000_000 {
				row.Measured, row.Ratio, row.Met = fmt.Sprintf("**%.1f MiB** (VmRSS %s)", held.Value, held.Note), held.Value, metIf(held.Value <= 150)
			} else if idle != nil && n > 0 {
				est := idle.Value + (held.Value-idle.Value)*1_000_000/float64(n)
				row.Measured = fmt.Sprintf("%.1f MiB measured %s; **≈ %.0f MiB** at 1,000,000 by linear extrapolation from %.1f MiB idle", held.Value, held.Note, est, idle.Value)
				row.Ratio, row.Met = round(est, 1), metIf(est <= 150)+" (estimate)"
			}
		}
		rows = append(rows, row)
	}
	for _, w := range []struct{ workload, goal string }{
		{"describe-one", "vs moto on DescribeBackups: ≥ 50 × its requests/s"},
		{"create-cluster", "vs moto on CreateCluster: ≥ 50 × its requests/s"},
		{"page-50", "vs moto on DescribeBackups, page of 50 (moto holds 1,000 backups, not 10,000)"},
	} {
		mo := r.get(w.workload, "moto", -1)
		for _, st := range stores {
			row := TargetRow{Workload: w.workload + "-vs-moto", Goal: w.goal, Store: st, Met: "n/a"}
			m := r.get(w.workload, st, -1)
			switch {
			case m == nil:
				row.Measured = r.skipped(st)
			case mo == nil:
				row.Measured = "moto: " + r.skipped("moto")
			default:
				row.Ratio = round(m.RPS/mo.RPS, 1)
				row.Measured = fmt.Sprintf("%s / %s req/s = **%.1f×**", num(m.RPS), num(mo.RPS), row.Ratio)
				if w.workload != "page-50" {
					row.Met = metIf(row.Ratio >= 50)
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// backupsIn reads the backup count from a figure note such as "holding 100000 backups".
func backupsIn(note string) int {
	var n int
	for _, f := range strings.Fields(note) {
		if _, err := fmt.Sscanf(f, "%d", &n); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

func metIf(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// markdown renders the report as BENCHMARKS.md's tables.
func markdown(r *Report) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "## Results of `%s` (%s, %.0f s)\n\n", r.Command, r.StartedAt, r.Seconds)
	fmt.Fprintf(&b, "Machine: %d × %s, %s MiB RAM, Linux %s, %s; Python %s, moto %s. Load average before/after: %s / %s. "+
		"%d concurrent clients (%d for tenants and replicated writes; wrk: %d threads, %d connections), %s warm-up + %s measured per workload. "+
		"Baseline: %s (commit %s).\n\n",
		m.CPUs, m.CPUModel, num(float64(m.MemTotalMiB)), m.Kernel, m.Go, m.Python, m.Moto, m.LoadBefore, m.LoadAfter,
		r.Options.Concurrency, r.Options.TenantClients, wrkThreads, wrkConnections, r.Options.Warmup, r.Options.Duration,
		r.Options.Baseline, r.Options.BaselineCommit)

	issue16Markdown(&b, r)
	b.WriteString("\n### Issue 5's targets\n\n| workload and target | store | measured | met? |\n|---|---|---|---|\n")
	for _, row := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Goal, row.Store, row.Measured, row.Met)
	}

	b.WriteString("\n### Every measurement\n\n")
	b.WriteString("Ratios compare with the same workload on the ceiling (the 50-backup ceiling for page-50 and cluster-filter) and on moto, measured in the same run.\n\n")
	b.WriteString("| workload | target | backups | c | req/s | p50 ms | p99 ms | first/last s req/s | / ceiling | / moto | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, x := range r.Measurements {
		vsC, vsM := "", ""
		if x.Target != "ceiling" && x.Target != "ceiling-50" {
			vsC = ratioTo(x.RPS, ceilingBefore(r.Measurements, i)) // measured just before, in the same phase
			if x.Target != "moto" && x.Tenants == 0 && x.Replicas == 0 {
				mo := r.get(x.Workload, "moto", x.Backups)
				if mo == nil && x.Workload != "cluster-filter" {
					mo = r.get(x.Workload, "moto", -1)
				}
				if mo != nil {
					vsM = fmt.Sprintf("%.1f×", x.RPS/mo.RPS)
				}
			}
		}
		backups := ""
		if x.Backups > 0 {
			backups = num(float64(x.Backups))
		}
		trend := ""
		if x.FirstRPS > 0 {
			trend = num(x.FirstRPS) + " / " + num(x.LastRPS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %.2f | %.2f | %s | %s | %s | %s |\n",
			x.label(), x.Target, backups, x.Concurrency, num(x.RPS), x.P50Ms, x.P99Ms, trend, vsC, vsM, errorsCell(x))
	}
	wrkMarkdown(&b, r)
	tenantsMarkdown(&b, r)
	replicasMarkdown(&b, r)
	b.WriteString(chartIndex(r.Charts))

	b.WriteString("\n### Other figures\n\n| figure | target | value | note |\n|---|---|---:|---|\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s |\n", f.Name, f.Target, num(f.Value), f.Unit, f.Note)
	}
	if len(r.Skipped) > 0 {
		b.WriteString("\nSkipped targets:\n\n")
		for _, st := range sortedKeys(r.Skipped) {
			fmt.Fprintf(&b, "- %s: %s\n", st, r.Skipped[st])
		}
	}
	return b.String()
}

// num renders a number with thousands separators, with one decimal below 100.
func num(v float64) string {
	if math.Abs(v) < 100 && v != math.Trunc(v) {
		return fmt.Sprintf("%.1f", v)
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func pct(ratio float64) string { return fmt.Sprintf("%.0f%%", ratio*100) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ratioTo renders x / of as a percentage of a ceiling, or "" without one.
func ratioTo(x float64, of *Measurement) string {
	if of == nil || of.RPS <= 0 {
		return ""
	}
	return pct(x / of.RPS)
}

// errorsCell renders a measurement's errors for a table cell.
func errorsCell(x Measurement) string {
	errs := fmt.Sprint(x.Errors)
	if x.WrongAnswers > 0 {
		errs += fmt.Sprintf(" (%d wrong answers)", x.WrongAnswers)
	}
	if x.Errors > 0 {
		errs += ": " + strings.ReplaceAll(clipString(x.FirstError, 80), "|", "/")
	}
	return errs
}

// wrkMarkdown renders both clients' views of the fixed-body workloads side by side.
func wrkMarkdown(b *strings.Builder, r *Report) {
	if len(r.Wrk) == 0 {
		return
	}
	b.WriteString("\n### Two clients: loadgen and wrk\n\n")
	b.WriteString("Every fixed-body workload is driven twice on each target, back to back: by loadgen (Go net/http, " +
		"16 clients) and by wrk (`wrk -t2 -c32`, a Lua script with the same request; an answer that is not a 200 or lacks " +
		"the expected string is an error). Each ratio is to the ceiling measured by the same client in the same phase.\n\n")
	b.WriteString("| workload | target | backups | loadgen req/s | loadgen / ceiling | wrk req/s | wrk / ceiling | wrk p50 ms | wrk p99 ms | wrk / moto | wrk errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, x := range r.Wrk {
		lg, lgC, wC, vsM := "", "", "", ""
		for j, m := range r.Measurements {
			if m.Workload == x.Workload && m.Target == x.Target && m.Backups == x.Backups && m.Tenants == 0 && m.Replicas == 0 {
				lg = num(m.RPS)
				if !strings.HasPrefix(x.Target, "ceiling") {
					lgC = ratioTo(m.RPS, ceilingBefore(r.Measurements, j))
				}
				break
			}
		}
		if !strings.HasPrefix(x.Target, "ceiling") {
			wC = ratioTo(x.RPS, ceilingBefore(r.Wrk, i))
			for _, mo := range r.Wrk {
				if mo.Workload == x.Workload && mo.Target == "moto" && x.Target != "moto" && mo.RPS > 0 {
					vsM = fmt.Sprintf("%.1f×", x.RPS/mo.RPS)
				}
			}
		}
		backups := ""
		if x.Backups > 0 {
			backups = num(float64(x.Backups))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s | %s |\n",
			x.Workload, x.Target, backups, lg, lgC, num(x.RPS), wC, x.P50Ms, x.P99Ms, vsM, errorsCell(x))
	}
}

// tenantsMarkdown renders delete-restore-tenants: one row per target, one column per tenant
// count, and the new build against the baseline.
func tenantsMarkdown(b *strings.Builder, r *Report) {
	cells := map[string]map[int]Measurement{}
	var order []string
	for _, m := range r.Measurements {
		if m.Workload != "delete-restore-tenants" || m.Tenants == 0 {
			continue
		}
		if cells[m.Target] == nil {
			cells[m.Target] = map[int]Measurement{}
			order = append(order, m.Target)
		}
		cells[m.Target][m.Tenants] = m
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Tenants: delete-restore with %d clients spread over N accounts\n\n", r.Options.TenantClients)
	b.WriteString("Worker w works for account 1111222233NN with NN = w mod N, on backups of its own (each account: one ACTIVE cluster " +
		"and its backups, set up through the API and the admin API). Each cell: req/s (share of the ceiling's " +
		"delete-restore with the same clients, measured just before that column), p50 / p99 ms.\n\n")
	b.WriteString("| target |")
	for _, n := range r.Options.Tenants {
		fmt.Fprintf(b, " N = %d |", n)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(r.Options.Tenants)) + "\n")
	for _, t := range order {
		fmt.Fprintf(b, "| %s |", t)
		for _, n := range r.Options.Tenants {
			m, ok := cells[t][n]
			if !ok {
				b.WriteString(" |")
				continue
			}
			share := ""
			if c, ok := cells["ceiling"][n]; ok && t != "ceiling" && c.RPS > 0 {
				share = " (" + pct(m.RPS/c.RPS) + ")"
			}
			e := ""
			if m.Errors > 0 {
				e = fmt.Sprintf(", %d errors", m.Errors)
			}
			fmt.Fprintf(b, " %s%s, %.2f / %.2f%s |", num(m.RPS), share, m.P50Ms, m.P99Ms, e)
		}
		b.WriteString("\n")
	}
	if base, ok := cells["postgres@base"]; ok {
		fmt.Fprintf(b, "\nThis build against the baseline (%s, commit %s) on PostgreSQL, same run:", r.Options.Baseline, r.Options.BaselineCommit)
		for _, n := range r.Options.Tenants {
			if bm, ok := base[n]; ok && bm.RPS > 0 {
				if nm, ok := cells["postgres"][n]; ok {
					fmt.Fprintf(b, " N = %d: %s / %s = **%.2f×**;", n, num(nm.RPS), num(bm.RPS), nm.RPS/bm.RPS)
				}
			}
		}
		if bd, nd := r.get("describe-one", "postgres@base", -1), r.get("describe-one", "postgres", -1); bd != nil && nd != nil {
			fmt.Fprintf(b, " describe-one %s / %s = **%.2f×**.", num(nd.RPS), num(bd.RPS), nd.RPS/bd.RPS)
		}
		b.WriteString("\n")
	}
}

// replicasMarkdown renders one server against two on one database.
func replicasMarkdown(b *strings.Builder, r *Report) {
	var rows []string
	for i, m := range r.Measurements {
		if m.Replicas != 2 {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			one := r.Measurements[j]
			if one.Workload == m.Workload && one.Target == m.Target && one.Replicas == 1 && one.RPS > 0 {
				c := ceilingBefore(r.Measurements, j)
				rows = append(rows, fmt.Sprintf("| %s | %s | %s (%s) | %s (%s) | **%.2f×** | %.2f / %.2f | %s |",
					one.Workload, m.Target, num(one.RPS), ratioTo(one.RPS, c), num(m.RPS), ratioTo(m.RPS, c),
					m.RPS/one.RPS, m.P50Ms, m.P99Ms, errorsCell(m)))
				break
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n### Replicas: two servers on one database\n\n")
	b.WriteString("The same clients on one server, then split evenly over two servers (the same binary) on the same SQLite file or " +
		"PostgreSQL database, back to back. Shares are of the ceiling measured with the same clients just before. On a 2-core " +
		"machine the two servers, the database and the client share the same cores.\n\n")
	b.WriteString("| workload | database | 1 server req/s (share) | 2 servers req/s (share) | 2 / 1 | 2 servers p50 / p99 ms | errors |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, row := range rows {
		b.WriteString(row + "\n")
	}
}

// issue16Markdown renders issue 16's cells as this run measured them: each a ratio taken in
// one phase, marked against the issue's goal.
func issue16Markdown(b *strings.Builder, r *Report) {
	mark := func(v, goal float64) string {
		if v >= goal {
			return " ✓"
		}
		return " ✗"
	}
	// share is a target's first measurement of workload over the ceiling just before it.
	share := func(list []Measurement, workload, target string) (float64, bool) {
		for i, m := range list {
			if m.Workload == workload && m.Target == target && m.Tenants == 0 && m.Replicas == 0 && m.RPS > 0 {
				if c := ceilingBefore(list, i); c != nil {
					return m.RPS / c.RPS, true
				}
				return 0, false
			}
		}
		return 0, false
	}
	first := func(list []Measurement, workload, target string, tenants, replicas int) *Measurement {
		for i, m := range list {
			if m.Workload == workload && m.Target == target && m.Tenants == tenants && m.Replicas == replicas && m.RPS > 0 {
				return &list[i]
			}
		}
		return nil
	}
	// readGoal is the share of the ceiling a read must reach on a store.
	readGoal := func(store string) float64 {
		if store == "postgres" {
			return 0.25
		}
		return 0.5
	}
	type cell func(store string) string
	rows := []struct {
		name string
		cell cell
	}{
		{"describe-one / ceiling, loadgen (≥ 50% memory and SQLite, ≥ 25% PostgreSQL)", func(st string) string {
			v, ok := share(r.Measurements, "describe-one", st)
			if !ok {
				return ""
			}
			return pct(v) + mark(v, readGoal(st))
		}},
		{"describe-one / ceiling, wrk (same goals)", func(st string) string {
			v, ok := share(r.Wrk, "describe-one", st)
			if !ok {
				return ""
			}
			return pct(v) + mark(v, readGoal(st))
		}},
		{"create-cluster / ceiling, loadgen / wrk (≥ 20%)", func(st string) string {
			var parts []string
			for _, list := range [][]Measurement{r.Measurements, r.Wrk} {
				if v, ok := share(list, "create-cluster", st); ok {
					parts = append(parts, pct(v)+mark(v, 0.2))
				}
			}
			return strings.Join(parts, " / ")
		}},
		{"create-cluster / moto, loadgen / wrk (≥ 50×)", func(st string) string {
			var parts []string
			for _, list := range [][]Measurement{r.Measurements, r.Wrk} {
				m, mo := first(list, "create-cluster", st, 0, 0), first(list, "create-cluster", "moto", 0, 0)
				if m != nil && mo != nil {
					parts = append(parts, fmt.Sprintf("%.1f×%s", m.RPS/mo.RPS, mark(m.RPS/mo.RPS, 50)))
				}
			}
			return strings.Join(parts, " / ")
		}},
		{"describe-one / moto, loadgen / wrk (≥ 50×)", func(st string) string {
			var parts []string
			for _, list := range [][]Measurement{r.Measurements, r.Wrk} {
				m, mo := first(list, "describe-one", st, 0, 0), first(list, "describe-one", "moto", 0, 0)
				if m != nil && mo != nil {
					parts = append(parts, fmt.Sprintf("%.1f×%s", m.RPS/mo.RPS, mark(m.RPS/mo.RPS, 50)))
				}
			}
			return strings.Join(parts, " / ")
		}},
		{"delete-restore, 8 tenants: this build / baseline (PostgreSQL ≥ 3×)", func(st string) string {
			m, base := first(r.Measurements, "delete-restore-tenants", st, 8, 0), first(r.Measurements, "delete-restore-tenants", st+"@base", 8, 0)
			if m == nil || base == nil {
				return ""
			}
			return fmt.Sprintf("%s / %s = %.2f×%s", num(m.RPS), num(base.RPS), m.RPS/base.RPS, mark(m.RPS/base.RPS, 3))
		}},
		{"describe-one, 2 replicas / 1 (PostgreSQL ≥ 1.5×)", func(st string) string {
			one, two := first(r.Measurements, "describe-one-replicas", st, 0, 1), first(r.Measurements, "describe-one-replicas", st, 0, 2)
			if one == nil || two == nil {
				return ""
			}
			return fmt.Sprintf("%.2f×%s", two.RPS/one.RPS, mark(two.RPS/one.RPS, 1.5))
		}},
		{"delete-restore with --durability fsync, 16 clients (SQLite ≥ 5,000 ops/s)", func(st string) string {
			m := first(r.Measurements, "delete-restore", st+"-fsync", 0, 0)
			if m == nil {
				return ""
			}
			return num(m.RPS) + " ops/s" + mark(m.RPS, 5000)
		}},
	}
	b.WriteString("\n### Issue 16's cells in this run\n\n")
	b.WriteString("Each a ratio of two numbers measured in the same phase (the ceiling, moto or the baseline just before or after).\n\n")
	b.WriteString("| cell | memory | SQLite | PostgreSQL |\n|---|---|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.name)
		for _, st := range stores {
			fmt.Fprintf(b, " %s |", row.cell(st))
		}
		b.WriteString("\n")
	}
}
