package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

// view is what every page template receives: the layout's fields and the page's Body.
type view struct {
	// Title is the page's heading; Nav names the navigation entry to mark current.
	Title, Nav string
	// CSRF is the session's token for the page's forms; Return is the page's own URI, where
	// its forms come back to.
	CSRF, Return string
	// Strict shows the logout button.
	Strict bool
	// Error is a refusal to show above the content (an action's error).
	Error string
	// Clock is the virtual clock bar; nil on the login page.
	Clock *clockView
	// Script is the name of a script under static/ that the page loads, or "".
	Script string
	// Body is the page's own data.
	Body any

	template string // the page's template: the file name without .html
}

// clockView is the clock bar's data.
type clockView struct {
	Now    time.Time
	Offset string // the virtual clock's lead over the wall clock
}

// statusError is a page's or an action's refusal with its HTTP status and message.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }

// flashKey carries an action's refusal to the page rendered after it (see action).
type flashKey struct{}

// page registers a page: fn builds the view of a GET, which is rendered with the layout, the
// session's CSRF token and the clock bar. An error of fn renders the error page.
func (h *handler) page(pattern string, fn func(r *http.Request) (view, error)) {
	h.mux.Handle(pattern, h.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		v, err := fn(r)
		if err != nil {
			refusal := h.refusal(r, err)
			status, v = refusal.status, view{Title: "Not shown", template: "error", Error: refusal.msg}
		}
		if flash, ok := r.Context().Value(flashKey{}).(statusError); ok {
			status, v.Error = flash.status, flash.msg
		}
		nonce, err := h.ensureSession(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.CSRF, v.Strict, v.Return = csrfToken(nonce), h.strict(), r.URL.RequestURI()
		if v.Clock, err = h.clockBar(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
		h.write(w, r, status, v.template, v)
	})))
}

// action registers a form's target: fn changes something, after the session's CSRF token is
// checked. On success the browser is sent back to the form's page (the "return" field); a
// refusal renders that page with the error above it and the error's status, so that the user
// sees both.
func (h *handler) action(pattern string, fn func(r *http.Request) error) {
	h.mux.Handle(pattern, h.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.writeError(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
			return
		}
		ret := safeReturn(r.PostForm.Get("return"))
		if !checkCSRF(r) {
			h.renderAt(w, r, ret, statusError{http.StatusForbidden, errSessionForm})
			return
		}
		if err := fn(r); err != nil {
			h.renderAt(w, r, ret, h.refusal(r, err))
			return
		}
		http.Redirect(w, r, ret, http.StatusSeeOther)
	})))
}

// renderAt answers r with the page at ret (a console URI), showing flash above it.
func (h *handler) renderAt(w http.ResponseWriter, r *http.Request, ret string, flash statusError) {
	u, err := url.Parse(ret)
	if err != nil {
		u = &url.URL{Path: Prefix}
	}
	get := r.Clone(context.WithValue(r.Context(), flashKey{}, flash))
	get.Method, get.URL, get.RequestURI, get.Body = http.MethodGet, u, u.RequestURI(), http.NoBody
	get.Form, get.PostForm, get.ContentLength = nil, nil, 0
	h.mux.ServeHTTP(w, get)
}

// errorStatus is the HTTP status of an error of a page or an action; internal failures are
// logged, since their message is not shown.
func (h *handler) errorStatus(r *http.Request, err error) int {
	var se statusError
	var ae *api.Error
	var ve *api.ValidationError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, service.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, service.ErrConflict):
		return http.StatusConflict
	case errors.As(err, &ve):
		return http.StatusBadRequest
	case errors.As(err, &ae) && ae.Code != api.CodeInternalFailure:
		return ae.Code.Status()
	}
	h.cfg.Logger.Error("console request failed", "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError
}

// refusal is what the page says of an error of a page or an action: its message, or for an
// internal failure (logged by errorStatus) only that there was one.
func (h *handler) refusal(r *http.Request, err error) statusError {
	status := h.errorStatus(r, err)
	if status >= http.StatusInternalServerError {
		return statusError{status, failedMessage}
	}
	return statusError{status, err.Error()}
}

// failedMessage is what a page says of an internal failure, whose cause is only logged.
const failedMessage = "The console failed to answer; the server log says why."

// fail answers an internal failure: logged, and shown without its cause.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.Error("console request failed", "path", r.URL.Path, "err", err)
	h.writeError(w, r, http.StatusInternalServerError, failedMessage)
}

// writeError renders the bare error page, without the clock bar or forms.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.write(w, r, status, "error", view{Title: "Not shown", Error: msg})
}

// write renders a page with the layout into a buffer, then answers with it: a template that
// fails cannot leave half a page.
func (h *handler) write(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.cfg.Logger.Error("console template failed", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "The console failed to render this page; the server log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// clockBar reads the virtual clock for the bar on every page.
func (h *handler) clockBar(ctx context.Context) (*clockView, error) {
	now, err := h.cfg.Service.VirtualNow(ctx)
	if err != nil {
		return nil, err
	}
	return &clockView{Now: now, Offset: signedDuration(now.Sub(h.cfg.Clock.Now()))}, nil
}

// parsePages parses each page template with the layout and the shared parts.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFiles, "templates/_*.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/[a-z]*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template, len(names))
	for _, name := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, name)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", name, err)
		}
		pages[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return pages, nil
}

// as returns ctx carrying the identity of an account in a region, as the API's front door
// would for a request signed by that account: the console acts as the account a page shows,
// without an identity policy, so it may do what the account may.
func as(ctx context.Context, sc scope) context.Context {
	return identity.WithCaller(ctx, identity.Caller{Account: sc.Account, Region: sc.Region})
}

// validator is an operation's input: the model's constraints, as the API checks them.
type validator interface{ Validate() error }

// invoke runs an operation as the API's front door does after decoding: the input is
// validated against the model, then the service runs it as the account and region of sc.
func invoke[In validator, Out any](ctx context.Context, sc scope, in In, op func(context.Context, In) (Out, error)) (Out, error) {
	if err := in.Validate(); err != nil {
		var zero Out
		return zero, err
	}
	return op(as(ctx, sc), in)
}
