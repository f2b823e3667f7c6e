package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal/cloudhsmlocaltest"
	"github.com/cloudhsm-local/cloudhsm-local/internal/console"
)

// browserlessClient is an HTTP client with a cookie jar that does not follow redirects, so a
// test sees each answer.
func browserlessClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// csrfOf loads a console page with client and returns the CSRF token of its forms.
func csrfOf(t *testing.T, client *http.Client, page string) string {
	t.Helper()
	resp, err := client.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %s, and no CSRF token in the page", page, resp.Status)
	}
	return string(m[1])
}

// TestFormsNeedTheSessionsToken: a POST changes something only with the CSRF token of the
// session its cookie names, from the console's own origin; otherwise it is refused and the
// virtual clock, here, does not move.
func TestFormsNeedTheSessionsToken(t *testing.T) {
	srv := cloudhsmlocaltest.New(t)
	overview := srv.URL() + console.Prefix
	for _, tc := range []struct {
		name     string
		cookies  bool   // send the session's cookies
		token    string // "good", "" for none, or a wrong one
		crossing bool   // send the headers of a form of another site
		status   int
	}{
		{"the session's token", true, "good", false, http.StatusSeeOther},
		{"no token", true, "", false, http.StatusForbidden},
		{"a wrong token", true, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false, http.StatusForbidden},
		{"a token without its session cookie", false, "good", false, http.StatusForbidden},
		{"another site's form, even with the token", true, "good", true, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := browserlessClient(t)
			token := tc.token
			if token == "good" {
				token = csrfOf(t, client, overview)
			}
			if !tc.cookies {
				client.Jar, _ = cookiejar.New(nil)
			}
			before, err := srv.Now(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{"advance": {"192h"}, "return": {console.Prefix}}
			if token != "" {
				form.Set("csrf", token)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, overview+"clock", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.crossing {
				req.Header.Set("Sec-Fetch-Site", "cross-site")
				req.Header.Set("Origin", "https://attacker.example")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("POST clock: %s, want %d", resp.Status, tc.status)
			}
			after, err := srv.Now(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if moved := after.Sub(before) > time.Hour; moved != (tc.status == http.StatusSeeOther) {
				t.Fatalf("the clock moved by %s; want 8 days only for an accepted form", after.Sub(before))
			}
		})
	}
}

// TestStrictModeNeedsALogin: in strict mode every page but the login form, the assets and the
// request history's JSON need the login cookie; the admin token opens it, and a wrong one or a
// bearer token does not.
func TestStrictModeNeedsALogin(t *testing.T) {
	const token = "console-test-admin-token"
	srv := cloudhsmlocaltest.New(t, cloudhsmlocal.Options{
		Strict: true, AdminToken: token,
		Credentials: []cloudhsmlocal.Credential{{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "111122223333"}},
	})
	base := srv.URL() + console.Prefix
	anonymous := browserlessClient(t)
	for _, tc := range []struct {
		path     string
		bearer   bool
		status   int
		location string
	}{
		{"", false, http.StatusSeeOther, console.Prefix + "login?return=%2F_cloudhsm-local%2Fconsole%2F"},
		{"backups?account=111122223333&region=us-east-1", false, http.StatusSeeOther, console.Prefix + "login?return="},
		{"", true, http.StatusSeeOther, console.Prefix + "login?return="}, // the admin API's bearer token is not a login
		{"requests.json", false, http.StatusUnauthorized, ""},
		{"login", false, http.StatusOK, ""},
		{"static/console.css", false, http.StatusOK, ""},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.bearer {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := anonymous.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Location"), tc.location) {
			t.Errorf("GET %s (bearer %v): %s to %q, want %d to %q…", tc.path, tc.bearer, resp.Status, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}

	login := func(client *http.Client, offered string) *http.Response {
		t.Helper()
		form := url.Values{"csrf": {csrfOf(t, client, base+"login")}, "token": {offered}, "return": {console.Prefix + "requests"}}
		resp, err := client.PostForm(base+"login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	client := browserlessClient(t)
	if resp := login(client, token+"x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a login with a wrong token: %s, want 401", resp.Status)
	}
	resp := login(client, token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != console.Prefix+"requests" {
		t.Fatalf("a login with the token: %s to %q, want 303 back to the requests page", resp.Status, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Value, token) || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s = %q: HttpOnly %v, SameSite %v; want HttpOnly, Strict, and not the token", c.Name, c.Value, c.HttpOnly, c.SameSite)
		}
	}
	page, err := client.Get(base + "requests.json")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("requests.json after the login: %s, want 200", page.Status)
	}
}

// backupRows matches the rows of the backups table.
var backupRows = regexp.MustCompile(`<tr id="row-(backup-[a-z2-7]+)">`)

// nextPage matches the backups page's link to the next page.
var nextPage = regexp.MustCompile(`<a href="([^"]+)" rel="next"`)

// TestBackupsPagesVisitEveryBackupOnce: following "Next page" from the first page of a
// filtered list shows each matching backup exactly once, 50 a page, in order.
func TestBackupsPagesVisitEveryBackupOnce(t *testing.T) {
	srv := cloudhsmlocaltest.New(t)
	clusterID, first, err := srv.ActiveCluster(t.Context(), "111122223333", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := srv.TakeBackups(t.Context(), clusterID, 120)
	if err != nil {
		t.Fatal(err)
	}
	client := browserlessClient(t)
	for _, tc := range []struct {
		order string
		want  []string
	}{
		{"oldest", append([]string{first}, ids...)},
		{"", reversed(append([]string{first}, ids...))},
	} {
		t.Run("order="+tc.order, func(t *testing.T) {
			var seen []string
			page := srv.URL() + console.Prefix + "backups?" + url.Values{
				"account": {"111122223333"}, "region": {"us-east-1"}, "cluster": {clusterID}, "state": {"READY"}, "order": {tc.order},
			}.Encode()
			for pages := 0; page != ""; pages++ {
				if pages > 5 {
					t.Fatal("more than 5 pages for 121 backups")
				}
				resp, err := client.Get(page)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %s %v", page, resp.Status, err)
				}
				rows := backupRows.FindAllSubmatch(body, -1)
				if len(rows) > 50 {
					t.Fatalf("a page lists %d backups, at most 50 fit", len(rows))
				}
				for _, m := range rows {
					seen = append(seen, string(m[1]))
				}
				page = ""
				if m := nextPage.FindSubmatch(body); m != nil {
					page = srv.URL() + strings.ReplaceAll(string(m[1]), "&amp;", "&")
				}
			}
			if strings.Join(seen, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("the pages showed %d backups, want the %d of the cluster once each, in order", len(seen), len(tc.want))
			}
		})
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
