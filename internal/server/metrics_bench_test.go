package server

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// seedScrapeBench makes a SQLite store file holding n READY backups of the default account in
// us-east-1 (the unsigned requests' owner), written in one statement.
func seedScrapeBench(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "store.db")
	st, err := sqlstore.Open(context.Background(), "sqlite:"+path) // the schema
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO backups (id, account, region, cluster_id, state, hsm_type, mode, never_expires,
		created_at, source_region, source_backup_id, source_cluster_id, version)
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		SELECT printf('backup-%011d', i), '000000000000', 'us-east-1', 'cluster-aaaaaaaaaaa', 'READY', 'hsm2m.medium',
			'FIPS', false, 1767225600000 + i, '', '', '', 1 FROM n`, n-1); err != nil {
		b.Fatalf("seed %d backups: %v", n, err)
	}
	return path
}

// BenchmarkScrapeUnderLoad measures what scraping /metrics costs the API under load. Four
// clients call DescribeBackups (a page of 50, through HTTP) without pause against a SQLite
// store, while the benchmark alternates one-second windows without and with a scraper
// (scraping every interval, from the start of its window); the order flips every round, so a
// drift of the machine's load cancels out. It reports the median over rounds of each round's
// throughput with scraping divided by without ("on/off": 1 means no cost), both throughputs,
// and a scrape's mean latency. Prometheus scrapes every 15 s by default: 1 s and 100 ms are
// 15 and 150 times that. Run it once per store size: -benchtime 1x.
func BenchmarkScrapeUnderLoad(b *testing.B) {
	for _, backups := range []int{10_000, 1_000_000} {
		path := seedScrapeBench(b, backups)
		for _, every := range []time.Duration{time.Second, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("backups=%d/scrape=%s", backups, every), func(b *testing.B) {
				benchScrapeWindows(b, path, every)
			})
		}
	}
}

// Windows of BenchmarkScrapeUnderLoad.
const (
	scrapeBenchRounds  = 10
	scrapeBenchWindow  = time.Second
	scrapeBenchClients = 4
)

func benchScrapeWindows(b *testing.B, path string, every time.Duration) {
	srv, err := New(context.Background(), Config{Store: "sqlite:" + path, Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig()})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() {
		hs.Close()
		_ = srv.Close()
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * scrapeBenchClients}}
	get := func(req *http.Request) error {
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode)
		}
		return nil
	}
	describe := func() error {
		req, err := http.NewRequest(http.MethodPost, hs.URL+"/", strings.NewReader(`{"MaxResults":50}`))
		if err != nil {
			return err
		}
		req.Header.Set("X-Amz-Target", "BaldrApiService.DescribeBackups")
		return get(req)
	}
	scrape := func() error {
		req, err := http.NewRequest(http.MethodGet, hs.URL+MetricsPath, nil)
		if err != nil {
			return err
		}
		return get(req)
	}

	var answered atomic.Int64
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range scrapeBenchClients {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := describe(); err != nil {
					b.Error(err)
					return
				}
				answered.Add(1)
			}
		})
	}
	defer func() {
		close(stop)
		load.Wait()
	}()

	var scrapes int
	var scrapeTime time.Duration
	// window returns the requests answered per second during one window, scraping or not.
	window := func(scraping bool) float64 {
		done := make(chan struct{})
		var scraper sync.WaitGroup
		if scraping {
			scraper.Go(func() {
				tick := time.NewTicker(every)
				defer tick.Stop()
				for {
					start := time.Now()
					if err := scrape(); err != nil {
						b.Error(err)
						return
					}
					scrapes++
					scrapeTime += time.Since(start)
					select {
					case <-done:
						return
					case <-tick.C:
					}
				}
			})
		}
		before, start := answered.Load(), time.Now()
		time.Sleep(scrapeBenchWindow)
		rate := float64(answered.Load()-before) / time.Since(start).Seconds()
		close(done)
		scraper.Wait()
		return rate
	}

	window(false) // warm up
	var ratios, on, off []float64
	for b.Loop() {
		for round := range scrapeBenchRounds {
			var without, with float64
			if round%2 == 0 {
				without, with = window(false), window(true)
			} else {
				with, without = window(true), window(false)
			}
			off, on, ratios = append(off, without), append(on, with), append(ratios, with/without)
		}
	}
	b.ReportMetric(median(ratios), "on/off")
	b.ReportMetric(median(off), "req/s-off")
	b.ReportMetric(median(on), "req/s-on")
	b.ReportMetric(scrapeTime.Seconds()*1000/float64(scrapes), "ms/scrape")
}

// median returns the middle value of xs (the mean of the two middle ones for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkScrape measures one GET /metrics on an idle server: what a scrape costs by itself.
func BenchmarkScrape(b *testing.B) {
	for _, backups := range []int{10_000, 1_000_000} {
		path := seedScrapeBench(b, backups)
		b.Run(fmt.Sprintf("backups=%d", backups), func(b *testing.B) {
			srv, err := New(context.Background(), Config{Store: "sqlite:" + path, Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig()})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer func() {
				hs.Close()
				_ = srv.Close()
			}()
			for b.Loop() {
				resp, err := hs.Client().Get(hs.URL + MetricsPath)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
				}
			}
		})
	}
}
