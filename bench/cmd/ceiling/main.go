// Command ceiling is the benchmark's upper bound: a trivial net/http server that answers every
// POST with one fixed, CloudHSM-shaped JSON body (a DescribeBackups response) and does nothing
// else. No server that reads the request and writes a response of that size can be faster on
// this machine, so cloudhsm-local's throughput is reported as a fraction of it.
//
//	ceiling [-addr 127.0.0.1:4590] [-backups 1]
//
// -backups sets how many backups the fixed response lists (50 for the page-of-50 workloads,
// with a NextToken). GET /_cloudhsm-local/health answers 200, so the harness can wait for it
// like for cloudhsm-local.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4590", "address to listen on")
	n := flag.Int("backups", 1, "how many backups the fixed DescribeBackups response lists")
	flag.Parse()

	body := responseBody(*n)
	length := strconv.Itoa(len(body))
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body) // a real server reads the request too
		h := w.Header()
		h["Content-Type"] = []string{"application/x-amz-json-1.1"}
		h["Content-Length"] = []string{length}
		h["X-Amzn-Requestid"] = []string{"00000000-0000-4000-8000-000000000000"}
		_, _ = w.Write(body)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_cloudhsm-local/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","store":"ceiling"}` + "\n"))
	})
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "ceiling serving %d-backup responses (%d bytes) on %s\n", *n, len(body), ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// responseBody is a DescribeBackups response listing n READY backups of one cluster, shaped
// like cloudhsm-local's (epoch-second timestamps, empty TagList).
func responseBody(n int) []byte {
	type backup struct {
		BackupArn       string
		BackupId        string
		BackupState     string
		ClusterId       string
		CreateTimestamp float64
		HsmType         string
		Mode            string
		NeverExpires    bool
		TagList         []struct{}
	}
	out := struct {
		Backups   []backup
		NextToken string `json:",omitempty"`
	}{Backups: make([]backup, n)}
	for i := range out.Backups {
		id := fmt.Sprintf("backup-%011d", i)
		out.Backups[i] = backup{
			BackupArn:   "arn:aws:cloudhsm:us-east-1:111122223333:backup/" + id,
			BackupId:    id,
			BackupState: "READY", ClusterId: "cluster-abcdefghijk",
			CreateTimestamp: 1767225600.123, HsmType: "hsm2m.medium", Mode: "FIPS",
			TagList: []struct{}{},
		}
	}
	if n > 1 {
		out.NextToken = "MTc2NzIyNTYwMDEyM3xiYWNrdXAtYWJjZGVmZ2hpamt8MDEyMzQ1Njc4OWFiY2RlZg.abcdefghijklmnopqrstuvwx"
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return b
}
