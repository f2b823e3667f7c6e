package console

import (
	"fmt"
	"math"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// A backup's life on the virtual time axis (docs/BEHAVIOUR.md §4): created; deleted (by
// DeleteBackup or retention), which makes it PENDING_DELETION; restorable until its
// DeleteTimestamp, which is the pending-deletion window after the deletion; expired, DELETED,
// at that DeleteTimestamp; listed for the tombstone period after it, then gone. A restore
// removes the DeleteTimestamp, so a READY backup shows no deletion.

// events are the instants of one backup's life that are known; zero when not (yet) reached.
type events struct {
	state   string
	created time.Time
	// deleted is when it became PENDING_DELETION: its DeleteTimestamp less the pending-deletion
	// window (never before its creation).
	deleted         time.Time
	restorableUntil time.Time // the DeleteTimestamp
	expired         time.Time // the DeleteTimestamp, once DELETED
	gone            time.Time // when a DELETED backup stops being listed
}

// events reads a backup's life from what the API shows and the lifecycle's windows.
func (h *handler) events(b api.Backup) events {
	ev := events{state: deref(b.BackupState), created: timeOf(b.CreateTimestamp)}
	if del := timeOf(b.DeleteTimestamp); !del.IsZero() {
		ev.restorableUntil = del
		ev.deleted = del.Add(-h.cfg.PendingDeletion)
		if ev.deleted.Before(ev.created) {
			ev.deleted = ev.created
		}
		if ev.state == api.BackupStateDeleted {
			ev.expired, ev.gone = del, del.Add(h.cfg.Tombstone)
		}
	}
	return ev
}

// last is the latest instant the timeline of ev shows at virtual time now.
func (ev events) last(now time.Time) time.Time {
	t := now
	for _, u := range []time.Time{ev.restorableUntil, ev.gone} {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// axis maps virtual times onto width pixels.
type axis struct {
	from, to time.Time
	width    float64
}

// axisFor returns an axis that holds every instant of evs and now, with a margin.
func axisFor(evs []events, now time.Time, width float64) axis {
	from, to := now, now
	for _, ev := range evs {
		if !ev.created.IsZero() && ev.created.Before(from) {
			from = ev.created
		}
		if l := ev.last(now); l.After(to) {
			to = l
		}
	}
	span := max(to.Sub(from), time.Hour)
	margin := span / 40
	return axis{from: from.Add(-margin), to: from.Add(span + margin), width: width}
}

// x is the position of t on the axis, clamped to it, to a tenth of a pixel.
func (a axis) x(t time.Time) float64 {
	f := float64(t.Sub(a.from)) / float64(a.to.Sub(a.from))
	return math.Round(math.Max(0, math.Min(1, f))*a.width*10) / 10
}

// timeline is an SVG chart of one backup's life.
type timeline struct {
	Width, Height float64
	// BarY and BarHeight place the bars, AxisY the axis, MarkTop and MarkBottom the marks;
	// Ticks are the axis labels (only on a backup's page).
	BarY, BarHeight, AxisY, MarkTop, MarkBottom float64
	Bars                                        []bar
	Marks                                       []mark
	Ticks                                       []mark
	NowX                                        float64
	// Summary says in words what the chart shows (its accessible name).
	Summary string
}

// bar is a stretch of the life in one state; Future ones are yet to come.
type bar struct {
	X, W   float64
	Class  string
	Label  string
	Future bool
}

// mark is an instant on the chart.
type mark struct {
	X     float64
	Label string
}

// drawTimeline lays out ev on ax at virtual time now; big adds the axis labels and the
// marks' labels.
func drawTimeline(ev events, now time.Time, ax axis, big bool) timeline {
	tl := timeline{Width: ax.width, Height: 24, BarY: 6, BarHeight: 12, NowX: ax.x(now)}
	if big {
		tl.Height, tl.BarY, tl.BarHeight = 80, 24, 24
	}
	tl.AxisY, tl.MarkTop, tl.MarkBottom = tl.BarY+tl.BarHeight/2, tl.BarY-4, tl.BarY+tl.BarHeight+4
	add := func(from, to time.Time, class, label string) {
		if from.IsZero() || to.IsZero() || !to.After(from) {
			return
		}
		past, future := to, time.Time{}
		if to.After(now) {
			past, future = now, to
		}
		if past.After(from) {
			tl.Bars = append(tl.Bars, bar{X: ax.x(from), W: max(ax.x(past)-ax.x(from), 1), Class: class, Label: label})
		}
		if !future.IsZero() {
			start := maxTime(from, now)
			tl.Bars = append(tl.Bars, bar{X: ax.x(start), W: max(ax.x(future)-ax.x(start), 1), Class: class, Label: label + " (to come)", Future: true})
		}
	}
	switch ev.state {
	case api.BackupStateCreateInProgress:
		add(ev.created, now, "busy", "CREATE_IN_PROGRESS")
	case api.BackupStateReady:
		add(ev.created, now, "ok", "READY")
	case api.BackupStatePendingDeletion:
		add(ev.created, ev.deleted, "ok", "READY")
		add(ev.deleted, ev.restorableUntil, "warn", "PENDING_DELETION: restorable until "+formatTime(ev.restorableUntil))
	case api.BackupStateDeleted:
		add(ev.created, ev.deleted, "ok", "READY")
		add(ev.deleted, ev.expired, "warn", "PENDING_DELETION")
		add(ev.expired, ev.gone, "gone", "DELETED: listed until "+formatTime(ev.gone))
	}
	summary := "Created " + formatTime(ev.created)
	for _, m := range []struct {
		at    time.Time
		label string
	}{
		{ev.created, "created"}, {ev.deleted, "deleted"}, {ev.restorableUntil, "restorable until"},
		{ev.expired, "expired"}, {ev.gone, "gone"},
	} {
		if m.at.IsZero() || (m.label == "restorable until" && !ev.expired.IsZero()) {
			continue
		}
		tl.Marks = append(tl.Marks, mark{X: ax.x(m.at), Label: m.label + " " + formatTime(m.at)})
		if m.label != "created" {
			summary += "; " + m.label + " " + formatTime(m.at)
		}
	}
	tl.Summary = fmt.Sprintf("%s; now %s; state %s.", summary, formatTime(now), ev.state)
	if big {
		tl.Ticks = ticks(ax)
	}
	return tl
}

// ticks labels the axis at a round step that gives at most eight labels.
func ticks(ax axis) []mark {
	span := ax.to.Sub(ax.from)
	step := 30 * 24 * time.Hour
	for _, s := range []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour} {
		if span/s <= 8 {
			step = s
			break
		}
	}
	layout := "Jan 2"
	if step < 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	var out []mark
	for t := ax.from.Truncate(step).Add(step); t.Before(ax.to); t = t.Add(step) {
		out = append(out, mark{X: ax.x(t), Label: t.UTC().Format(layout)})
	}
	return out
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
