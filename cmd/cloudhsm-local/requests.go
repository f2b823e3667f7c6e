package main

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/url"
	"time"
)

const requestsUsage = `usage:
  cloudhsm-local requests [--operation OP] [--account ID] [--region R] [--error NAME|*] [--limit N]
The most recent API calls this server answered, newest first, as {"Requests":[...]}: only those
of operation OP, account ID, region R, those that failed with error NAME (or with any error: *),
at most N of them. Each replica keeps its own; reset clears it.
`

// requestsCommand runs "requests [filters]": GET /_cloudhsm-local/requests with the filters as
// query parameters. The server validates them and explains what it refuses (exit 1).
func requestsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var a adminFlags
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, requestsUsage) }
	a.register(fs)
	filters := map[string]*string{}
	for _, name := range []string{"operation", "account", "region", "error", "limit"} {
		filters[name] = fs.String(name, "", "only requests with this "+name)
	}
	if err := a.parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("requests takes only flags, got %q\n%s", fs.Args(), requestsUsage)
	}
	q := url.Values{}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := filters[f.Name]; ok {
			q.Set(f.Name, *v)
		}
	})
	path := "requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out, err := a.client(time.Minute).Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	return printJSON(stdout, out)
}
