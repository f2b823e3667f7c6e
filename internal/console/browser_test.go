package console_test

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal/cloudhsmlocaltest"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/console"
	"github.com/cloudhsm-local/cloudhsm-local/internal/customerca"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore"
)

// The console is tested in a real browser: headless Chromium (Debian package chromium),
// driven by chromedp, against real servers. Screenshots of every page, at 1280×800 and on a
// 390×844 phone screen, go to the test's artifact directory (go test -artifacts keeps them);
// -update-docs also writes the README's ones to docs/console/.

// chromium is where Debian's package chromium puts the browser.
const chromium = "/usr/bin/chromium"

var updateDocs = flag.Bool("update-docs", false, "write the README's screenshots of the console to docs/console/")

const (
	account = "111122223333"
	region  = "us-east-1"
	// markupSubject is a customer CA's subject, and markupKey an access key, that would run
	// script if a page took them for markup.
	markupSubject = `O=<b>Evil</b> & Co, CN=<script>alert("ca")</script>` // in the certificate's order
	markupKey     = `<img src=x onerror=alert("key")>`
)

// TestConsoleInChromium drives the console as a user would, in one browser for all its parts.
func TestConsoleInChromium(t *testing.T) {
	browser := startChromium(t)
	t.Run("the lifecycle by clicking", func(t *testing.T) { lifecycleByClicking(t, browser) })
	t.Run("the request history, live, with markup as text", func(t *testing.T) { requestHistory(t, browser) })
	t.Run("strict mode: login and CSRF", func(t *testing.T) { strictMode(t, browser) })
}

// startChromium starts one headless Chromium for the test; a missing Chromium fails the test
// with the install hint.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the console's browser tests need Chromium at %s (%v): apt-get install chromium (.ci/run installs it)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return browser
}

// tab is one browser tab of a test, on one server.
type tab struct {
	t      *testing.T
	ctx    context.Context // bounded: no step may hang the test
	base   string          // the server's URL
	name   string          // prefix of the screenshots' names
	mu     sync.Mutex
	errors []chromedp.ConsoleMessage // JavaScript errors, console errors and dialogs seen so far
	// refusals counts the pages answered with an error status on purpose, by status: Chromium
	// logs a console error for each, which is expected.
	refusals map[int64]int
}

// newTab opens a tab of width×height on the server at base. When the test ends, the tab must
// have seen no JavaScript error, no console error and no dialog (an alert would mean that
// markup ran).
func newTab(t *testing.T, browser context.Context, base, name string, width, height int64) *tab {
	t.Helper()
	tabCtx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	b := &tab{t: t, base: base, name: name, refusals: map[int64]int{}}
	messages := chromedp.Console(tabCtx)
	dialogs := chromedp.Events(tabCtx, page.JavascriptDialogOpening)
	viewport := []chromedp.EmulateViewportOption{}
	if width < 600 {
		viewport = append(viewport, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(tabCtx, chromedp.EmulateViewport(width, height, viewport...)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.fault(m)
			}
		}
	})
	wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.fault(chromedp.ConsoleMessage{Type: "dialog", Text: ev.Message})
			_, _ = chromedp.Call(tabCtx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	ctx, stop := context.WithTimeout(tabCtx, 90*time.Second)
	b.ctx = ctx
	t.Cleanup(func() {
		stop()
		cancel()
		wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.errors {
			if status, ok := refusal(m); ok && b.refusals[status] > 0 {
				b.refusals[status]--
				continue
			}
			t.Errorf("in the browser: %s (%s) at %s: %s", m.Type, m.Source, m.URL, m.Text)
		}
	})
	return b
}

func (b *tab) fault(m chromedp.ConsoleMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, m)
}

// refusal reports whether m is Chromium's note of a page answered with an error status, and
// which status.
func refusal(m chromedp.ConsoleMessage) (int64, bool) {
	var status int64
	_, err := fmt.Sscanf(m.Text, "Failed to load resource: the server responded with a status of %d", &status)
	return status, err == nil && m.Source == "network"
}

// expect notes that a page is answered with status on purpose.
func (b *tab) expect(status int64) {
	if status >= 400 {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.refusals[status]++
	}
}

// page is the URL of a console page.
func (b *tab) page(p string) string { return b.base + console.Prefix + p }

// open loads a console page and checks the status of its answer.
func (b *tab) open(p string, status int64) {
	b.t.Helper()
	b.expect(status)
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.page(p)))
	if err != nil {
		b.t.Fatalf("open %s: %v", p, err)
	}
	if resp.Status != status {
		b.t.Fatalf("open %s: HTTP %d, want %d", p, resp.Status, status)
	}
}

// click clicks the element and waits for the page it leads to, whose answer must have status.
func (b *tab) click(sel string, status int64) {
	b.t.Helper()
	b.expect(status)
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	if resp.Status != status {
		text, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		b.t.Fatalf("click %s: HTTP %d, want %d; the page says:\n%s", sel, resp.Status, status, text)
	}
}

// text returns the text of the first element sel matches, waiting for it to appear.
func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// contains fails unless the text of sel contains want.
func (b *tab) contains(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs actions.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("in the browser: %v", err)
	}
}

// shot saves a screenshot of the viewport as NAME-what.png in the test's artifact directory,
// and in docs/console/ with -update-docs when docs is set.
func (b *tab) shot(what string, docs bool) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", what, err)
	}
	file := b.name + "-" + what + ".png"
	if err := os.WriteFile(filepath.Join(b.t.ArtifactDir(), file), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if docs && *updateDocs {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "console", file), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// fitsTheScreen fails if the page scrolls sideways: wide tables scroll inside their own box.
func (b *tab) fitsTheScreen(what string) {
	b.t.Helper()
	if over := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
		b.t.Errorf("%s is %d px wider than the %s screen", what, over, b.name)
	}
}

// everyFieldHasALabel fails if a visible form field has no label.
func (b *tab) everyFieldHasALabel(what string) {
	b.t.Helper()
	unlabelled := eval[[]string](b, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		.filter(e => e.labels.length === 0 && !e.getAttribute("aria-label")).map(e => e.name || e.id)`)
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: fields without a label: %v", what, unlabelled)
	}
}

// lifecycleByClicking: a cluster made with the Go SDK appears; activating it, deleting and
// restoring a backup, advancing 8 days — all by clicking — show what the API shows; the
// service's refusals are shown in the page; markup in a CA's subject is text.
func lifecycleByClicking(t *testing.T, browser context.Context) {
	srv := cloudhsmlocaltest.New(t)
	ctx := t.Context()
	client := srv.Client(account, region)
	desk := newTab(t, browser, srv.URL(), "desktop", 1280, 800)

	desk.open("", http.StatusOK)
	desk.contains("main", "The store is empty")
	if href := eval[string](desk, `document.getElementById("export").getAttribute("href")`); href != console.StatePath {
		t.Errorf("Export snapshot links to %q, want %q", href, console.StatePath)
	}

	// A cluster made through the API appears, and so does its HSM.
	created, err := client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0c10ca1000000000a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.Cluster.ClusterId)
	zone := ""
	for z := range created.Cluster.SubnetMapping {
		zone = z
	}
	if _, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: &id, AvailabilityZone: &zone}); err != nil {
		t.Fatal(err)
	}
	desk.open("", http.StatusOK)
	desk.contains("#owners", account)
	desk.contains("#owners", "1 UNINITIALIZED")
	desk.click("#owners a", http.StatusOK) // the clusters of that account and region
	desk.contains("#row-"+id, "UNINITIALIZED")

	initialize(t, srv, client, id)
	desk.click("#row-"+id+" a", http.StatusOK)
	desk.contains("#cluster-state", "INITIALIZED")
	desk.contains("#hsms", zone)

	// Activate by clicking: ACTIVE, with the backup activation takes.
	desk.click("#activate", http.StatusOK)
	desk.contains("#cluster-state", "ACTIVE")
	desk.contains("table.backups", "READY")
	if got := desk.text("#certificates li:nth-child(1) .issuer"); got != markupSubject {
		t.Errorf("the cluster certificate's issuer reads %q, want the CA's subject %q as text", got, markupSubject)
	}
	if n := eval[int](desk, `document.querySelectorAll("script, #certificates b, #certificates img").length`); n != 0 {
		t.Errorf("the CA's subject made %d elements: it was taken for markup", n)
	}
	desk.shot("cluster", true)

	// Delete, restore, delete by clicking, then advance 8 days: DELETED.
	desk.click("table.backups tbody th a", http.StatusOK)
	desk.contains("#backup-state", "READY")
	desk.click("#delete", http.StatusOK)
	desk.contains("#backup-state", "PENDING_DELETION")
	desk.click("#restore", http.StatusOK)
	desk.contains("#backup-state", "READY")
	desk.click("#delete", http.StatusOK)
	desk.contains("#backup-state", "PENDING_DELETION")
	desk.shot("backup", true)
	desk.click(`.clock button[value="192h"]`, http.StatusOK)
	desk.contains("#backup-state", "DELETED")
	desk.contains(".clock .offset", "+8d")

	// Take a backup by clicking; the cluster has its 8 daily backups and this one.
	desk.click(".back a", http.StatusOK) // all backups
	desk.click("table.backups tbody tr:last-child td:nth-child(3) a", http.StatusOK)
	desk.click("#take-backup", http.StatusOK)
	desk.contains("#backups-heading + p", "newest 10")

	// A refusal of the service is shown in the page, with its status: the page still offers
	// Delete for a backup that the API has deleted meanwhile.
	desk.click("table.backups tbody tr:first-child th a", http.StatusOK)
	backupID := strings.TrimPrefix(desk.text("h1"), "Backup ")
	if _, err := client.DeleteBackup(ctx, &cloudhsmv2.DeleteBackupInput{BackupId: &backupID}); err != nil {
		t.Fatal(err)
	}
	desk.click("#delete", http.StatusBadRequest)
	desk.contains("#error-message", "CloudHsmInvalidRequestException")
	desk.contains("#error-message", "PENDING_DELETION")
	desk.contains("#backup-state", "PENDING_DELETION")

	// The backups page: filters and timelines.
	desk.open("backups?account="+account+"&region="+region, http.StatusOK)
	desk.contains("table.backups", "DELETED")
	if n := eval[int](desk, `document.querySelectorAll("table.backups svg.timeline line.now").length`); n != 10 {
		t.Errorf("%d timelines mark now, want one for each of the 10 backups", n)
	}
	desk.do(chromedp.SetValue(chromedp.ID("f-state"), "DELETED"))
	desk.click(".filters button", http.StatusOK)
	if n := eval[int](desk, `document.querySelectorAll("table.backups tbody tr").length`); n != 1 {
		t.Errorf("the filter state=DELETED shows %d backups, want 1", n)
	}
	desk.open("backups?account="+account+"&region="+region, http.StatusOK)
	desk.shot("backups", true)

	// Fault rules: added and cleared by the form; a rule the set refuses says why.
	desk.open("", http.StatusOK)
	desk.do(
		chromedp.SetValue(chromedp.ID("fault-operation"), "ListTags"),
		chromedp.SetValue(chromedp.ID("fault-error"), "CloudHsmAccessDeniedException"),
		chromedp.SendKeys(chromedp.ID("fault-count"), "2"),
	)
	desk.click("#add-fault button", http.StatusOK)
	desk.contains("#faults", "CloudHsmAccessDeniedException")
	desk.contains("#faults", "next 2")
	if _, err := client.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &id}); err == nil {
		t.Error("ListTags succeeded under a fault rule added in the console")
	}
	desk.do(chromedp.SendKeys(chromedp.ID("fault-probability"), "0.5"), chromedp.SendKeys(chromedp.ID("fault-count"), "1"))
	desk.click("#add-fault button", http.StatusBadRequest)
	desk.contains("#error-message", "invalid fault rule")
	desk.open("", http.StatusOK)
	desk.everyFieldHasALabel("the overview")
	desk.shot("overview", true)
	desk.click(`form[action$="faults/clear"] button`, http.StatusOK)
	desk.contains("main", "No fault rules")

	// Keyboard: the first Tab reaches the skip link, which leads to the content.
	desk.do(chromedp.KeyEvent("\t"))
	if got := eval[string](desk, `document.activeElement.textContent`); got != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}

	// The clusters and requests pages, on both screens; no page scrolls sideways on a phone.
	desk.open("clusters", http.StatusOK)
	desk.shot("clusters", true)
	desk.open("requests", http.StatusOK)
	desk.contains("#requests", "CreateCluster") // the server's own history: the SDK's call above
	phone := newTab(t, browser, srv.URL(), "phone", 390, 844)
	for _, p := range []struct{ name, path string }{
		{"overview", ""}, {"clusters", "clusters"}, {"cluster", "clusters/" + id + "?account=" + account + "&region=" + region},
		{"backups", "backups"}, {"backup", "backups/" + backupID + "?account=" + account + "&region=" + region}, {"requests", "requests"},
	} {
		phone.open(p.path, http.StatusOK)
		phone.fitsTheScreen("the " + p.name + " page")
		phone.everyFieldHasALabel("the " + p.name + " page")
		phone.shot(p.name, p.name == "backups")
	}

	// Reset, confirmed: the store is empty again.
	desk.open("", http.StatusOK)
	desk.do(chromedp.Click(chromedp.ID("reset-confirm")))
	desk.click(`button.danger`, http.StatusOK)
	desk.contains("main", "The store is empty")
}

// initialize claims a cluster with a customer CA whose subject holds markup.
func initialize(t *testing.T, srv *cloudhsmlocal.Server, client *cloudhsmv2.Client, id string) {
	t.Helper()
	ctx := t.Context()
	out, err := client.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil {
		t.Fatal(err)
	}
	now, err := srv.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := customerca.NewNamed(now, pkix.Name{CommonName: `<script>alert("ca")</script>`, Organization: []string{`<b>Evil</b> & Co`}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(aws.ToString(out.Clusters[0].Certificates.ClusterCsr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.InitializeCluster(ctx, &cloudhsmv2.InitializeClusterInput{
		ClusterId: &id, SignedCert: &cert, TrustAnchor: aws.String(ca.PEM()),
	}); err != nil {
		t.Fatal(err)
	}
}

// requestLog is a request history that the test fills.
type requestLog struct {
	mu       sync.Mutex
	requests []history.Request // oldest first
}

func (l *requestLog) add(r history.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
}

func (l *requestLog) Recent(limit int) []history.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.requests)
	slices.Reverse(out)
	return out[:min(limit, len(out))]
}

// requestHistory: the Requests page shows the history, updates by itself, and shows markup in
// an access key id as text, both as rendered and as updated by its script.
func requestHistory(t *testing.T, browser context.Context) {
	st, err := sqlstore.Open(t.Context(), "memory")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := service.New(service.DefaultConfig(), st, lifecycle.New(lifecycle.DefaultConfig(), clock.Real{}, rand.Reader))
	if err := svc.Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	recent := &requestLog{}
	wall := clock.Real{}.Now()
	n := 0
	request := func(op, key string, status int, errName string, ids ...string) history.Request {
		n++
		return history.Request{
			Time: wall, VirtualTime: wall, RequestID: fmt.Sprintf("4d0e9a4c-0000-4000-8000-%012d", n),
			Operation: op, Account: account, Region: region, AccessKeyID: key, Status: status, Error: errName,
			Duration: 1200 * time.Microsecond, ResourceIDs: ids,
		}
	}
	recent.add(request("CreateCluster", account, 200, "", "cluster-abcdefghijk"))
	recent.add(request("DescribeBackups", markupKey, 200, ""))
	recent.add(request("RestoreBackup", account, 400, "CloudHsmInvalidRequestException", "backup-abcdefghijk"))
	handler, err := console.New(console.Config{Service: svc, Faults: faults.New(nil), Requests: recent, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	desk := newTab(t, browser, srv.URL, "desktop", 1280, 800)
	desk.open("requests", http.StatusOK)
	if got := desk.text("#requests tbody tr:nth-child(2) .akid"); got != markupKey {
		t.Errorf("the access key reads %q, want %q as text", got, markupKey)
	}
	desk.shot("requests", true)

	// A new request shows up by itself, its markup as text too.
	const scriptKey = `<script>alert("key")</script>`
	recent.add(request("DeleteBackup", scriptKey, 200, "", "backup-abcdefghijk"))
	got, err := chromedp.Run(desk.ctx, chromedp.Poll[string](`(() => {
		const cell = document.querySelector("#requests tbody tr:first-child .akid");
		return cell && cell.textContent === `+"`"+scriptKey+"`"+` ? cell.textContent : null;
	})()`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || got != scriptKey {
		t.Fatalf("the new request did not show up with its access key as text within 20 s: %q, %v", got, err)
	}
	if n := eval[int](desk, `document.querySelectorAll("#requests script, #requests img").length`); n != 0 {
		t.Errorf("the access keys made %d elements: they were taken for markup", n)
	}
}

// strictMode: with an admin token the console needs a login; the login cookie is HttpOnly,
// SameSite=Strict and does not hold the token; a POST without the CSRF token is refused and
// changes nothing.
func strictMode(t *testing.T, browser context.Context) {
	token := rand.Text()
	srv := cloudhsmlocaltest.New(t, cloudhsmlocal.Options{
		Strict: true, AdminToken: token,
		Credentials: []cloudhsmlocal.Credential{{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: account}},
	})
	desk := newTab(t, browser, srv.URL(), "strict", 1280, 800)

	desk.open("backups", http.StatusOK) // answered by the login form, after a redirect
	if loc := eval[string](desk, `location.pathname + location.search`); !strings.HasPrefix(loc, console.Prefix+"login?return=") {
		t.Fatalf("a page without a login went to %s, want the login form", loc)
	}
	desk.do(chromedp.SendKeys(chromedp.ID("token"), "not-the-token"))
	desk.click(".login button", http.StatusUnauthorized)
	desk.contains("#error-message", "not this server's admin token")
	desk.shot("login", false)

	desk.do(chromedp.SendKeys(chromedp.ID("token"), token))
	desk.click(".login button", http.StatusOK)
	if loc := eval[string](desk, `location.pathname`); loc != console.Prefix+"backups" {
		t.Errorf("after the login the browser is at %s, want back at the backups page", loc)
	}
	cookies, err := chromedp.Call(desk.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{desk.page("")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 2 {
		t.Errorf("the console set %d cookies, want 2 (session, login)", len(cookies.Cookies))
	}
	for _, c := range cookies.Cookies {
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != console.Prefix || strings.Contains(c.Value, token) {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %s, path %s, holds the token %v; want HttpOnly, Strict, %s, no token",
				c.Name, c.HTTPOnly, c.SameSite, c.Path, strings.Contains(c.Value, token), console.Prefix)
		}
	}

	// A POST without the CSRF token is refused, and the clock does not move.
	before, err := srv.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	desk.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("input[name=csrf]").forEach(e => e.remove())`))
	desk.click(`.clock button[value="192h"]`, http.StatusForbidden)
	desk.contains("#error-message", "security token")
	after, err := srv.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if moved := after.Sub(before); moved > time.Hour {
		t.Errorf("a POST without the CSRF token moved the clock by %s", moved)
	}
	desk.click(`.clock button[value="1h"]`, http.StatusOK) // the page it answered with has the token
	desk.click(".logout button", http.StatusOK)
	desk.contains("h1", "Log in")
}
