package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// RequireToken guards the admin API with a bearer token (docs/BEHAVIOUR.md §9, strict mode): a
// request without "Authorization: Bearer <token>", or with another token, gets 401 and a JSON
// Error, and next never sees it, so nothing changes. The comparison takes the same time whatever
// the tokens share. An empty token disables the check and returns next itself.
//
// Neither the response nor anything logged ever contains the expected or the offered token.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offered, ok := bearer(r.Header.Get("Authorization"))
		got := sha256.Sum256([]byte(offered))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			msg := "the admin API needs the admin token: send \"Authorization: Bearer <token>\" (the subcommands take --admin-token or CLOUDHSM_LOCAL_ADMIN_TOKEN)"
			if ok {
				msg = "the admin token is not the server's"
			}
			body, _ := json.Marshal(Error{Error: msg})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cloudhsm-local admin"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(append(body, '\n'))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header (scheme case-insensitive).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
