package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"slices"
	"testing"
)

// element is what the test reads back from an SVG: every element's name, its data-name and
// class attributes, and the text of <text> elements.
type element struct {
	name, dataName, class, text string
}

// parse decodes svg as XML and fails the test if it is not well-formed or not an <svg>.
func parse(t *testing.T, svg []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var out []element
	var stack []*element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not valid XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local}
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "data-name":
					e.dataName = a.Value
				case "class":
					e.class = a.Value
				}
			}
			out = append(out, e)
			stack = append(stack, &out[len(out)-1])
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(out) == 0 || out[0].name != "svg" {
		t.Fatalf("the document is not an <svg>: %s", svg)
	}
	return out
}

// Every chart is well-formed XML with its title, one drawn series per series that has data
// (bars per value), and a legend entry for each; names with XML's special characters survive.
func TestChartsAreValidSVGWithEverySeries(t *testing.T) {
	tests := []struct {
		name      string
		svg       []byte
		title     string
		drawn     map[string]int // data-name → elements drawn for it
		legend    []string
		notDrawn  []string
		wantLabel []string // tick labels that must appear
	}{
		{
			name: "lines on log axes, latency against store size",
			svg: Lines{Title: "p50 & p99 <latency>", XLabel: "backups", YLabel: "ms", LogX: true, LogY: true, Series: []Series{
				{Name: "memory p50", Points: []Point{{1e3, 0.5}, {1e6, 0.6}, {1e4, 0.55}}},
				{Name: "memory p99", Points: []Point{{1e3, 1.5}, {1e6, 2}}, Dashed: true},
				{Name: "postgres p50", Points: []Point{{1e3, 1.4}, {1e5, 0}}, Color: 2}, // 0 cannot be drawn on a log axis
				{Name: "empty", Points: nil},
			}}.SVG(),
			title:     "p50 & p99 <latency>",
			drawn:     map[string]int{"memory p50": 1, "memory p99": 1, "postgres p50": 1},
			legend:    []string{"memory p50", "memory p99", "postgres p50"},
			notDrawn:  []string{"empty"},
			wantLabel: []string{"1k", "10k", "1M"},
		},
		{
			name: "lines on linear axes, throughput against tenants",
			svg: Lines{Title: "tenants", XLabel: "tenants", YLabel: "req/s", Series: []Series{
				{Name: "sqlite", Points: []Point{{1, 5000}, {2, 5200}, {8, 5100}, {32, 4000}}},
			}}.SVG(),
			title:     "tenants",
			drawn:     map[string]int{"sqlite": 1},
			legend:    []string{"sqlite"},
			wantLabel: []string{"1", "32"},
		},
		{
			name: "grouped bars with a missing value",
			svg: Bars{Title: "share of the ceiling", YLabel: "% of the ceiling", Percent: true,
				Groups: []string{"describe-one", "page-50", "create-cluster"},
				Series: []BarSeries{
					{Name: "memory", Values: []float64{0.5, 0.22, 0.07}},
					{Name: "moto", Values: []float64{0.01, math.NaN(), 0.01}},
				}}.SVG(),
			title:     "share of the ceiling",
			drawn:     map[string]int{"memory": 3, "moto": 2},
			legend:    []string{"memory", "moto"},
			wantLabel: []string{"describe-one", "page-50", "create-cluster", "50%", "7%"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			els := parse(t, tc.svg)
			drawn := map[string]int{}
			var legend, texts []string
			var title string
			for _, e := range els {
				switch {
				case e.name == "title" && title == "":
					title = e.text
				case e.dataName != "":
					drawn[e.dataName]++
				case e.name == "text" && e.class == "legend":
					legend = append(legend, e.text)
				case e.name == "text":
					texts = append(texts, e.text)
				}
			}
			if title != tc.title {
				t.Errorf("title %q, want %q", title, tc.title)
			}
			for name, n := range tc.drawn {
				if drawn[name] != n {
					t.Errorf("series %q drawn %d times, want %d (drawn: %v)", name, drawn[name], n, drawn)
				}
			}
			for _, name := range tc.notDrawn {
				if drawn[name] > 0 || slices.Contains(legend, name) {
					t.Errorf("series %q has no points but is drawn or in the legend", name)
				}
			}
			if !slices.Equal(legend, tc.legend) {
				t.Errorf("legend %q, want %q", legend, tc.legend)
			}
			for _, l := range tc.wantLabel {
				if !slices.Contains(texts, l) {
					t.Errorf("no label %q among %q", l, texts)
				}
			}
		})
	}
}
