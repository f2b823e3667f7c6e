package server

import (
	"github.com/cloudhsm-local/cloudhsm-local/internal/console"
	"github.com/cloudhsm-local/cloudhsm-local/internal/history"
)

// consoleRequests shows the request history on the console's Requests page.
type consoleRequests struct{ ring *history.Ring }

// Recent returns the newest limit requests, newest first.
func (c consoleRequests) Recent(limit int) []console.Request {
	reqs := c.ring.Query(history.Filter{Limit: limit})
	out := make([]console.Request, len(reqs))
	for i, r := range reqs {
		out[i] = console.Request(r)
	}
	return out
}
