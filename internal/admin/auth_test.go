package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequireToken(t *testing.T) {
	const token = "s3cret-admin-token"
	calls := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, _ = io.WriteString(w, `{"status":"reset"}`)
	})
	h := RequireToken(token, next)
	tests := []struct {
		name, auth string
		status     int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong-token", http.StatusUnauthorized},
		{"a prefix of the token", "Bearer s3cret", http.StatusUnauthorized},
		{"the token with more after it", "Bearer " + token + "x", http.StatusUnauthorized},
		{"another scheme", "Basic " + token, http.StatusUnauthorized},
		{"scheme only", "Bearer", http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls = 0
			req := httptest.NewRequest(http.MethodPost, Prefix+"reset", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.status == http.StatusOK {
				if calls != 1 {
					t.Errorf("next called %d times, want 1", calls)
				}
				return
			}
			if calls != 0 {
				t.Errorf("next called %d times on a refused request: something changed", calls)
			}
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not an admin Error: %v", rec.Body.String(), err)
			}
			if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "wrong-token") {
				t.Errorf("the 401 body quotes a token: %s", rec.Body.String())
			}
			if rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", rec.Header())
			}
		})
	}
	calls = 0
	RequireToken("", next).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, Prefix+"reset", nil))
	if calls != 1 {
		t.Error("an empty token must leave the admin API open (permissive mode)")
	}
}

func TestClientSendsToken(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	if _, err := (Client{Endpoint: srv.URL, Token: "tok"}).Call(t.Context(), http.MethodGet, "health", nil); err != nil {
		t.Fatal(err)
	}
	if got != "Bearer tok" {
		t.Errorf("Authorization = %q, want Bearer tok", got)
	}
	if _, err := (Client{Endpoint: srv.URL}).Call(t.Context(), http.MethodGet, "health", nil); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Errorf("Authorization = %q without a token, want none", got)
	}
}
