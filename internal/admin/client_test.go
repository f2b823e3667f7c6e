package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestClientStatusError pins what a refused call returns: a *StatusError with the status and the
// server's message, whose text the subcommands print unchanged.
func TestClientStatusError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		want     StatusError
		wantText string
	}{
		{"a JSON error names the server's message", http.StatusConflict, `{"error":"conflict: cluster cluster-aaaaaaaaaaa is ACTIVE"}`,
			StatusError{Method: http.MethodPost, Path: "reset", StatusCode: 409, Message: "conflict: cluster cluster-aaaaaaaaaaa is ACTIVE"},
			"POST reset: conflict: cluster cluster-aaaaaaaaaaa is ACTIVE (HTTP 409)"},
		{"another body is kept as text", http.StatusBadGateway, " upstream down \n",
			StatusError{Method: http.MethodPost, Path: "reset", StatusCode: 502, Body: "upstream down"},
			"POST reset: HTTP 502: upstream down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := (Client{Endpoint: srv.URL}).Call(t.Context(), http.MethodPost, "reset", nil)
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Call: %v, want a *StatusError", err)
			}
			if *se != tt.want {
				t.Errorf("StatusError = %+v, want %+v", *se, tt.want)
			}
			if err.Error() != tt.wantText {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantText)
			}
		})
	}
}
