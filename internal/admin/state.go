package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// State snapshots: GET /_cloudhsm-local/state exports the whole state as one JSON document (see
// package snapshot), PUT imports one.
//
// Both go through a spool file, so that the store is never held while the network is slow: an
// export is written to the file from one read transaction, then sent (so a failure is a clean
// 500, never a cut-off 200); an import is received into the file whole, then read in one write
// transaction (which can therefore run again if the store asks). The file is in the temporary
// directory and unlinked as soon as it is open, so nothing is left behind whatever ends the
// process. A transfer of a large state takes longer than the server's per-request timeouts, so
// these two lift them for their own connection.

// bodyReader keeps the error of reading a request body, to tell it from one of the spool file.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// StateImported is the body of a successful PUT /_cloudhsm-local/state: the document's clock,
// which the virtual clock now reads, and how many records of each kind were imported.
type StateImported struct {
	Clock             string `json:"Clock"`
	Subnets           int    `json:"Subnets"`
	ClusterIdentities int    `json:"ClusterIdentities"`
	Clusters          int    `json:"Clusters"`
	HSMs              int    `json:"Hsms"`
	Backups           int    `json:"Backups"`
	ResourcePolicies  int    `json:"ResourcePolicies"`
	RetiredIDs        int    `json:"RetiredIds"`
}

// stateRoutes registers the snapshot endpoints.
func (h *handler) stateRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Prefix+"state", h.exportState)
	mux.HandleFunc("PUT "+Prefix+"state", h.importState)
}

// spool returns a new unlinked temporary file; closing it frees its space.
func spool() (*os.File, error) {
	f, err := os.CreateTemp("", "cloudhsm-local-state-*.json")
	if err != nil {
		return nil, fmt.Errorf("create a spool file in the temporary directory (set TMPDIR to a writable one): %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		return nil, errors.Join(fmt.Errorf("unlink the spool file %s: %w", f.Name(), err), f.Close())
	}
	return f, nil
}

// liftDeadline removes the connection's read or write deadline for a transfer of a whole state
// (the server's are 30 s to read a request and 60 s to answer it).
// A connection that cannot change it (a test recorder) keeps it.
func liftDeadline(set func(time.Time) error) {
	_ = set(time.Time{}) // best effort: http.ErrNotSupported leaves the server's timeout in force
}

func (h *handler) exportState(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		h.respond(w, r, nil, statusError{http.StatusBadRequest, "GET state takes no parameters"})
		return
	}
	f, err := spool()
	if err != nil {
		h.respond(w, r, nil, err)
		return
	}
	defer f.Close()
	buf := bufio.NewWriterSize(f, 256<<10)
	err = h.svc.ExportState(r.Context(), buf)
	if err == nil {
		err = buf.Flush()
	}
	var size int64
	if err == nil {
		size, err = f.Seek(0, io.SeekCurrent)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		h.respond(w, r, nil, fmt.Errorf("export the state: %w", err))
		return
	}
	liftDeadline(http.NewResponseController(w).SetWriteDeadline)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		h.log.Debug("export not sent whole", "err", err) // the client went away
	}
}

func (h *handler) importState(w http.ResponseWriter, r *http.Request) {
	replace := false
	for name, values := range r.URL.Query() {
		v, err := strconv.ParseBool(values[0])
		if name != "replace" || len(values) != 1 || err != nil {
			h.respond(w, r, nil, statusError{http.StatusBadRequest, "PUT state takes one parameter, replace=true or replace=false"})
			return
		}
		replace = v
	}
	f, err := spool()
	if err != nil {
		h.respond(w, r, nil, err)
		return
	}
	defer f.Close()
	rc := http.NewResponseController(w)
	liftDeadline(rc.SetReadDeadline)
	liftDeadline(rc.SetWriteDeadline) // the answer comes after the whole import
	body := &bodyReader{r: r.Body}
	if _, err := io.Copy(f, body); err != nil {
		if body.err != nil { // the client's side, not the spool file's
			err = statusError{http.StatusBadRequest, "read the document: " + body.err.Error()}
		}
		h.respond(w, r, nil, err)
		return
	}
	got, err := h.svc.ImportState(r.Context(), f, replace) // the document reader buffers its reads
	if err != nil {
		h.respond(w, r, nil, err)
		return
	}
	h.respond(w, r, StateImported{
		Clock: got.Clock.Format(time.RFC3339Nano), Subnets: got.Subnets, ClusterIdentities: got.ClusterIdentities,
		Clusters: got.Clusters, HSMs: got.HSMs, Backups: got.Backups, ResourcePolicies: got.ResourcePolicies, RetiredIDs: got.RetiredIDs,
	}, nil)
}
