package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/bench/chart"
)

// chartTargets are the targets the charts show, each always in the same colour.
func chartTargets() []string {
	return []string{"memory", "sqlite", "postgres", "postgres@base", "sqlite-fsync", "postgres-fsync", "moto"}
}

// ceilingBefore returns the ceiling measurement of the same workload taken last before list[i]
// (in the same phase, seconds before), or nil.
func ceilingBefore(list []Measurement, i int) *Measurement {
	for j := i - 1; j >= 0; j-- {
		if c := &list[j]; c.Workload == list[i].Workload && strings.HasPrefix(c.Target, "ceiling") && c.RPS > 0 {
			return c
		}
	}
	return nil
}

// shareGroup is one group of bars of the share-of-the-ceiling chart: the first measurement of
// a workload (with that many tenants) on each target.
type shareGroup struct {
	label, workload string
	tenants         int
}

// shareBars draws each target's requests/s as a share of the ceiling's in the same phase; a
// group no target was measured in is left out.
func shareBars(title string, list []Measurement, groups []shareGroup) chart.Bars {
	b := chart.Bars{Title: title, YLabel: "requests/s as a share of the ceiling's", Percent: true}
	values := map[string][]float64{} // target → value per group
	measured := make([]bool, len(groups))
	for _, t := range chartTargets() {
		values[t] = make([]float64, len(groups))
		for gi, g := range groups {
			values[t][gi] = math.NaN()
			for i, m := range list {
				if m.Workload == g.workload && m.Target == t && m.Tenants == g.tenants && m.Replicas == 0 && m.RPS > 0 {
					if c := ceilingBefore(list, i); c != nil {
						values[t][gi], measured[gi] = m.RPS/c.RPS, true
					}
					break
				}
			}
		}
	}
	for gi, g := range groups {
		if measured[gi] {
			b.Groups = append(b.Groups, g.label)
		}
	}
	for ci, t := range chartTargets() {
		s := chart.BarSeries{Name: t, Color: ci}
		for gi := range groups {
			if measured[gi] {
				s.Values = append(s.Values, values[t][gi])
			}
		}
		if slices.ContainsFunc(s.Values, func(v float64) bool { return !math.IsNaN(v) }) {
			b.Series = append(b.Series, s)
		}
	}
	return b
}

// latencyLines draws p50 (solid) and p99 (dashed) of one workload per target against x(m),
// over the measurements keep accepts.
func latencyLines(title, xLabel string, logX bool, list []Measurement, keep func(Measurement) bool, x func(Measurement) float64) chart.Lines {
	l := chart.Lines{Title: title, XLabel: xLabel, YLabel: "latency (ms, log scale)", LogX: logX, LogY: true}
	for ci, t := range chartTargets() {
		p50 := chart.Series{Name: t + " p50", Color: ci}
		p99 := chart.Series{Name: t + " p99", Color: ci, Dashed: true}
		for _, m := range list {
			if m.Target == t && m.Requests > 0 && keep(m) {
				p50.Points = append(p50.Points, chart.Point{X: x(m), Y: m.P50Ms})
				p99.Points = append(p99.Points, chart.Point{X: x(m), Y: m.P99Ms})
			}
		}
		if len(p50.Points) > 0 {
			l.Series = append(l.Series, p50, p99)
		}
	}
	return l
}

// charts writes the run's SVG charts next to the markdown report and lists them in it.
func (s *suite) charts() error {
	r := &s.report
	dir := filepath.Dir(s.cfg.md)
	tenants := func(m Measurement) bool { return m.Workload == "delete-restore-tenants" && m.Tenants > 0 }
	byTenants := func(m Measurement) float64 { return float64(m.Tenants) }
	throughput := chart.Lines{Title: "delete-restore: throughput against tenant count (32 clients)",
		XLabel: "tenants (accounts the 32 clients are spread over)", YLabel: "requests/s", LogX: true}
	for ci, t := range chartTargets() {
		sr := chart.Series{Name: t, Color: ci}
		for _, m := range r.Measurements {
			if m.Target == t && tenants(m) && m.Requests > 0 {
				sr.Points = append(sr.Points, chart.Point{X: byTenants(m), Y: m.RPS})
			}
		}
		if len(sr.Points) > 0 {
			throughput.Series = append(throughput.Series, sr)
		}
	}
	groups := []shareGroup{
		{"describe-one", "describe-one", 0}, {"cluster-filter", "cluster-filter", 0}, {"page-50", "page-50", 0},
		{"delete-restore", "delete-restore", 0}, {"8 tenants", "delete-restore-tenants", 8}, {"create-cluster", "create-cluster", 0},
	}
	files := []struct {
		name string
		svg  []byte
	}{
		{"share-of-ceiling.svg", shareBars("Throughput as a share of the ceiling (loadgen: 16 clients; 8 tenants: 32)", r.Measurements, groups).SVG()},
		{"share-of-ceiling-wrk.svg", shareBars("Throughput as a share of the ceiling (wrk, 2 threads, 32 connections)", r.Wrk, groups).SVG()},
		{"latency-size-describe-one.svg", latencyLines("describe-one: latency against store size (16 clients)", "backups in the store (log scale)", true,
			r.Measurements, func(m Measurement) bool { return m.Workload == "describe-one" && m.Replicas == 0 && m.Backups >= 1000 },
			func(m Measurement) float64 { return float64(m.Backups) }).SVG()},
		{"latency-size-cluster-filter.svg", latencyLines("cluster-filter: latency against store size (1 client)", "backups in the store (log scale)", true,
			r.Measurements, func(m Measurement) bool { return m.Workload == "cluster-filter" && m.Backups >= 1000 },
			func(m Measurement) float64 { return float64(m.Backups) }).SVG()},
		{"latency-tenants.svg", latencyLines("delete-restore: latency against tenant count (32 clients)", "tenants (log scale)", true,
			r.Measurements, tenants, byTenants).SVG()},
		{"throughput-tenants.svg", throughput.SVG()},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	r.Charts = nil
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.svg, 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Charts = append(r.Charts, path)
	}
	if len(r.Charts) > 0 {
		s.logf("wrote %s", strings.Join(r.Charts, ", "))
	}
	return errors.Join(errs...)
}

// chartIndex is the markdown that shows the charts, relative to the report's directory.
func chartIndex(charts []string) string {
	var b strings.Builder
	if len(charts) == 0 {
		return ""
	}
	b.WriteString("\n### Charts\n\n")
	for _, c := range charts {
		name := filepath.Base(c)
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(name, ".svg"), name)
	}
	return b.String()
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
