package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

// The forms' targets. Each calls the service as the admin API or the API would, so the same
// rules and errors apply; the page shows a refusal (see action).

// advanceClock moves the virtual clock by the button's duration ("advance") or by the typed
// one ("duration", when the button says "custom").
func (h *handler) advanceClock(r *http.Request) error {
	text := r.PostForm.Get("advance")
	if text == "custom" {
		text = strings.TrimSpace(r.PostForm.Get("duration"))
	}
	d, err := parseAdvance(text)
	if err != nil {
		return err
	}
	_, err = h.cfg.Service.AdvanceClock(r.Context(), d)
	return err
}

// parseAdvance reads a duration to advance the clock by: a Go duration ("36h", "90m"),
// optionally after a number of days ("8d", "1d12h"). It must be positive and at most
// admin.MaxClockMove, as the admin API requires.
func parseAdvance(text string) (time.Duration, error) {
	bad := statusError{http.StatusBadRequest, fmt.Sprintf("Advance the clock by a duration such as 1h, 8d or 1d12h, not %q.", api.Clip(text))}
	var days time.Duration
	if before, after, ok := strings.Cut(text, "d"); ok {
		n, err := strconv.ParseUint(before, 10, 16)
		if err != nil {
			return 0, bad
		}
		days, text = time.Duration(n)*24*time.Hour, after
		if text == "" {
			text = "0s"
		}
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return 0, bad
	}
	d += days
	switch {
	case d <= 0:
		return 0, statusError{http.StatusBadRequest, "Advance the clock by more than nothing: it only moves forward."}
	case d > admin.MaxClockMove:
		return 0, statusError{http.StatusBadRequest, fmt.Sprintf("The clock moves at most %s (ten years) at a time, not %s: move it in steps.", admin.MaxClockMove, d)}
	}
	return d, nil
}

// activate makes an INITIALIZED cluster ACTIVE, as the admin API's activate does.
func (h *handler) activate(r *http.Request) error {
	_, err := h.cfg.Service.Activate(r.Context(), r.PathValue("id"))
	return err
}

// takeBackup backs up an ACTIVE cluster now, as the admin API's take-backup does.
func (h *handler) takeBackup(r *http.Request) error {
	_, err := h.cfg.Service.TakeBackup(r.Context(), r.PathValue("id"))
	return err
}

// deleteBackup is DeleteBackup, called as the account and region of the form.
func (h *handler) deleteBackup(r *http.Request) error {
	sc, err := h.scopeOf(r)
	if err != nil {
		return err
	}
	_, err = invoke(r.Context(), sc, &api.DeleteBackupRequest{BackupId: ptr(r.PathValue("id"))}, h.cfg.Service.DeleteBackup)
	return err
}

// restoreBackup is RestoreBackup, called as the account and region of the form.
func (h *handler) restoreBackup(r *http.Request) error {
	sc, err := h.scopeOf(r)
	if err != nil {
		return err
	}
	_, err = invoke(r.Context(), sc, &api.RestoreBackupRequest{BackupId: ptr(r.PathValue("id"))}, h.cfg.Service.RestoreBackup)
	return err
}

// addFault adds a fault rule from the form: its empty fields are absent from the rule.
func (h *handler) addFault(r *http.Request) error {
	f := r.PostForm
	rule := faults.Rule{Operation: f.Get("operation"), Error: f.Get("error"), Latency: strings.TrimSpace(f.Get("latency"))}
	if p := strings.TrimSpace(f.Get("probability")); p != "" {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return statusError{http.StatusBadRequest, fmt.Sprintf("The probability %q is not a number from 0 to 1.", api.Clip(p))}
		}
		rule.Probability = &v
	}
	if c := strings.TrimSpace(f.Get("count")); c != "" {
		v, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return statusError{http.StatusBadRequest, fmt.Sprintf("The count %q is not a whole number.", api.Clip(c))}
		}
		rule.Count = &v
	}
	_, err := h.cfg.Faults.Add(rule)
	if errors.Is(err, faults.ErrInvalidRule) {
		return statusError{http.StatusBadRequest, err.Error()}
	}
	return err
}

// clearFaults removes every fault rule.
func (h *handler) clearFaults(*http.Request) error {
	h.cfg.Faults.Clear()
	return nil
}

// reset empties the store, once the form's confirmation box is ticked.
func (h *handler) reset(r *http.Request) error {
	if r.PostForm.Get("confirm") != "yes" {
		return statusError{http.StatusBadRequest, "Nothing was reset: tick the box that confirms you want to delete every resource of every account."}
	}
	return h.cfg.Service.Reset(r.Context())
}
