package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// A browser's session is two cookies, checked without server memory (so a restart or another
// replica keeps it):
//   - sessionCookie holds a random nonce, set on the first page a browser loads. The CSRF token
//     of every form is derived from it (csrfToken), so a page of another site, which can neither
//     read the cookie nor send it (SameSite=Strict), cannot forge a form.
//   - loginCookie (strict mode only) holds an HMAC of the nonce keyed by the admin token: proof
//     that this browser logged in with the token, without the token itself. Logging in gives a
//     new nonce, so a nonce planted before the login is worthless.
//
// Both are HttpOnly, SameSite=Strict, limited to the console's path, and Secure over TLS. They
// last as long as the browser session; a new admin token ends every login.
const (
	sessionCookie = "cloudhsm_local_console_session"
	loginCookie   = "cloudhsm_local_console_login"
	// csrfField is the name of every form's hidden CSRF field.
	csrfField = "csrf"
	// maxForm caps a form's body.
	maxForm = 64 << 10
)

// nonceBytes is the size of a session nonce.
const nonceBytes = 32

// errSessionForm is shown when a POST's CSRF token is missing or wrong.
const errSessionForm = "The form's security token is missing or does not match this browser's session, so nothing was changed. " +
	"Reload the page and try again (cookies must be enabled for this site)."

// session returns the browser's nonce, and whether it had a well-formed one.
func session(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	return c.Value, err == nil && len(raw) == nonceBytes
}

// newNonce draws a session nonce. It reads crypto/rand, never an injected source: a nonce is
// a secret, and a predictable one would let a page of another site forge the console's forms.
func newNonce() (string, error) {
	b := make([]byte, nonceBytes)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// setCookie sets one of the console's cookies; an empty value deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string) {
	c := &http.Cookie{
		Name: name, Value: value, Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// ensureSession returns the browser's nonce, giving it one if it has none.
func (h *handler) ensureSession(w http.ResponseWriter, r *http.Request) (string, error) {
	if nonce, ok := session(r); ok {
		return nonce, nil
	}
	nonce, err := newNonce()
	if err != nil {
		return "", err
	}
	setCookie(w, r, sessionCookie, nonce)
	return nonce, nil
}

// csrfToken is the CSRF token of the forms of the session with this nonce.
func csrfToken(nonce string) string {
	sum := sha256.Sum256([]byte("cloudhsm-local console csrf\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCSRF reports whether r's form carries the CSRF token of r's session, comparing in
// constant time. r's form must be parsed.
func checkCSRF(r *http.Request) bool {
	nonce, ok := session(r)
	if !ok {
		return false
	}
	want := csrfToken(nonce)
	got := r.PostForm.Get(csrfField)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// strict reports whether the console needs a login.
func (h *handler) strict() bool { return h.cfg.AdminToken != "" }

// loginProof is the login cookie's value for a session nonce.
func (h *handler) loginProof(nonce string) string {
	mac := hmac.New(sha256.New, []byte(h.cfg.AdminToken))
	mac.Write([]byte("cloudhsm-local console login\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// loggedIn reports whether r comes from a browser that logged in (always, in permissive mode).
func (h *handler) loggedIn(r *http.Request) bool {
	if !h.strict() {
		return true
	}
	nonce, ok := session(r)
	c, err := r.Cookie(loginCookie)
	if !ok || err != nil {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(h.loginProof(nonce)))
}

// tokenMatches compares an offered admin token with the server's in constant time (over
// their hashes, so the length does not show either).
func (h *handler) tokenMatches(offered string) bool {
	got, want := sha256.Sum256([]byte(offered)), sha256.Sum256([]byte(h.cfg.AdminToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// guard lets next answer only a logged-in browser. Others are sent to the login form, and
// come back after it, when they asked for a page (a GET not of JSON); anything else is
// refused with 401.
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.loggedIn(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, ".json") {
			http.Redirect(w, r, Prefix+"login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		http.Error(w, "Log in to the console first, at "+Prefix+"login.", http.StatusUnauthorized)
	})
}

// loginPage shows the login form; in permissive mode it sends the browser to the overview.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if !h.strict() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin renders the login form with an optional error.
func (h *handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce, err := h.ensureSession(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, r, status, "login", view{
		Title: "Log in", CSRF: csrfToken(nonce), Error: msg,
		Return: safeReturn(r.FormValue("return")),
	})
}

// login checks the admin token of the login form and logs the browser in.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	if !checkCSRF(r) {
		h.renderLogin(w, r, http.StatusForbidden, errSessionForm)
		return
	}
	if !h.strict() {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	if !h.tokenMatches(r.PostForm.Get("token")) {
		h.renderLogin(w, r, http.StatusUnauthorized,
			"That is not this server's admin token (--admin-token or CLOUDHSM_LOCAL_ADMIN_TOKEN). Try again.")
		return
	}
	nonce, err := newNonce()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setCookie(w, r, sessionCookie, nonce)
	setCookie(w, r, loginCookie, h.loginProof(nonce))
	http.Redirect(w, r, safeReturn(r.PostForm.Get("return")), http.StatusSeeOther)
}

// logout ends the browser's login and session.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || !checkCSRF(r) {
		h.writeError(w, r, http.StatusForbidden, errSessionForm)
		return
	}
	setCookie(w, r, loginCookie, "")
	setCookie(w, r, sessionCookie, "")
	target := Prefix + "login"
	if !h.strict() {
		target = Prefix
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeReturn returns a path of the console to go back to after a form: ret when it is one
// (a path under Prefix, with its query), else the overview. It never returns another site.
func safeReturn(ret string) string {
	u, err := url.Parse(ret)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, Prefix) || strings.Contains(u.Path, "//") || strings.Contains(u.Path, "/..") ||
		strings.ContainsAny(ret, "\\\r\n") {
		return Prefix
	}
	return u.RequestURI()
}
