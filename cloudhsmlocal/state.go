package cloudhsmlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// Export writes the server's whole state to w as one JSON document, as "cloudhsm-local export"
// does: the virtual clock, every account and region's clusters (with their certificates and
// private keys), HSMs, backups, tags, resource policies, and what a later import needs to go on
// exactly where this state is. The document holds private keys: keep it as a secret. It streams
// whatever the state's size.
func (s *Server) Export(ctx context.Context, w io.Writer) error {
	if s.isClosed() {
		return fmt.Errorf("export the state: %w", ErrClosed)
	}
	resp, err := s.admin.Send(ctx, http.MethodGet, "state", nil)
	if err != nil {
		return adminError("export the state", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("cloudhsmlocal: export the state: %w", err)
	}
	return nil
}

// ImportOptions are the choices of Import.
type ImportOptions struct {
	// Replace replaces the server's whole state. Without it the store must hold no resource.
	Replace bool
}

// Import loads a document written by Export (or "cloudhsm-local export"), from any server and
// store, in one transaction: the server then holds exactly that state, its virtual clock reads
// the document's time and runs on from there. A document the server refuses changes nothing and
// is ErrInvalidArgument, whose message names the JSON path and the rule; a server that holds
// resources, without opts.Replace, is ErrConflict.
func (s *Server) Import(ctx context.Context, r io.Reader, opts ImportOptions) error {
	if s.isClosed() {
		return fmt.Errorf("import a state: %w", ErrClosed)
	}
	path := "state"
	if opts.Replace {
		path += "?replace=true"
	}
	resp, err := s.admin.Send(ctx, http.MethodPut, path, r)
	if err != nil {
		return adminError("import a state", err)
	}
	return resp.Body.Close()
}

// Seed builds a fixture (a hand-written document, docs/FIXTURES.md: clusters by name, their
// state, HSMs, backups by count, age and state) into the server, which must hold no resource
// (ErrConflict), as "cloudhsm-local import FIXTURE" does. It returns the cluster ID each name
// got. A fixture the server refuses changes nothing and is ErrInvalidArgument, whose message
// names the JSON path and the rule.
func (s *Server) Seed(ctx context.Context, fixture io.Reader) (map[string]string, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("seed a fixture: %w", ErrClosed)
	}
	resp, err := s.admin.Send(ctx, http.MethodPost, "fixture", fixture)
	if err != nil {
		return nil, adminError("seed a fixture", err)
	}
	defer resp.Body.Close()
	var out admin.FixtureSeeded
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("cloudhsmlocal: seed a fixture: read the answer: %w", err)
	}
	return out.Clusters, nil
}
