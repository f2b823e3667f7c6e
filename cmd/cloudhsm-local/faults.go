package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/faults"
)

const faultsUsage = `usage:
  cloudhsm-local faults [list]              list the fault rules (with remaining counts)
  cloudhsm-local faults clear               remove every fault rule
  cloudhsm-local faults add --operation OP [--error NAME] [--latency D] [--probability P | --count N]
  cloudhsm-local faults add '{"operation":"RestoreBackup","error":"CloudHsmInternalFailureException","count":1}'
OP is an operation name or "*"; NAME is one of ` + "%s" + `.
`

// faultsRequest maps "faults [list | clear | add ...]" to an admin API call.
func faultsRequest(args []string) (method, path string, body any, err error) {
	if len(args) == 0 {
		return http.MethodGet, "faults", nil, nil
	}
	switch args[0] {
	case "list", "clear":
		if len(args) != 1 {
			return "", "", nil, usagef("faults %s takes no arguments\n%s", args[0], faultsHelp())
		}
		if args[0] == "clear" {
			return http.MethodDelete, "faults", nil, nil
		}
		return http.MethodGet, "faults", nil, nil
	case "add":
		rule, err := parseFaultRule(args[1:])
		if err != nil {
			return "", "", nil, err
		}
		return http.MethodPost, "faults", rule, nil
	}
	return "", "", nil, usagef("faults takes list, clear or add, not %q\n%s", args[0], faultsHelp())
}

// parseFaultRule reads a rule from flags or from one JSON argument. It checks only the form;
// the server validates the rule and explains what it refuses.
func parseFaultRule(args []string) (faults.Rule, error) {
	var rule faults.Rule
	if len(args) == 1 && strings.HasPrefix(strings.TrimSpace(args[0]), "{") {
		dec := json.NewDecoder(bytes.NewReader([]byte(args[0])))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rule); err != nil {
			return rule, usagef("faults add: the rule is not a JSON object of operation, error, latency, probability, count: %v", err)
		}
		return rule, nil
	}
	fs := flag.NewFlagSet("faults add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&rule.Operation, "operation", "", `the operation to fail, or "*" for all`)
	fs.StringVar(&rule.Error, "error", "", "the error name to answer with")
	fs.StringVar(&rule.Latency, "latency", "", "latency to add first, e.g. 250ms")
	probability := fs.Float64("probability", 0, "share of matching requests, 0 to 1")
	count := fs.Int64("count", 0, "number of matching requests")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return rule, usagef("%s", faultsHelp())
		}
		return rule, usagef("faults add: %v\n%s", err, faultsHelp())
	}
	if fs.NArg() > 0 {
		return rule, usagef("faults add takes flags or one JSON rule, got %q\n%s", fs.Args(), faultsHelp())
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "probability":
			rule.Probability = probability
		case "count":
			rule.Count = count
		}
	})
	return rule, nil
}

func faultsHelp() string {
	return strings.Replace(faultsUsage, "%s", strings.Join(faults.ErrorNames(), ", "), 1)
}
