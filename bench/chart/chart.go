// Package chart draws the benchmark's results as small standalone SVG files: grouped bars
// (throughput as a share of the ceiling) and lines on linear or logarithmic axes (latency
// against store size or tenant count). It writes SVG text with the standard library alone and
// knows nothing of the benchmark; it must never read files or the clock, so the same data
// always gives the same bytes.
package chart

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// color is the colour of series i (modulo eight), chosen to be told apart on white.
func color(i int) string {
	return [...]string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"}[i%8]
}

// The drawing area inside every chart.
const (
	width, height           = 760, 420
	left, right, top, below = 70, 190, 40, 60
)

// Point is one measurement of a line.
type Point struct{ X, Y float64 }

// Series is one line: its name in the legend, its points (in any order; drawn by rising X),
// its colour (the same index, the same colour) and whether it is dashed.
type Series struct {
	Name   string
	Points []Point
	Color  int
	Dashed bool
}

// Lines is a line chart. With LogX or LogY an axis is logarithmic (base 10) and points at
// or below zero on it are left out.
type Lines struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
	Series                []Series
}

// BarSeries is one colour of bars (Color, as for Series): a value per group, NaN where nothing
// was measured.
type BarSeries struct {
	Name   string
	Values []float64
	Color  int
}

// Bars is a grouped bar chart: one group per name in Groups, one bar per series in each.
// Percent shows values (ratios) as percentages on the axis and above the bars.
type Bars struct {
	Title, YLabel string
	Groups        []string
	Series        []BarSeries
	Percent       bool
}

// esc escapes text for XML.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// canvas is an SVG document being written.
type canvas struct{ b strings.Builder }

func newCanvas(title string) *canvas {
	c := &canvas{}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&c.b, `<title>%s</title>`+"\n", esc(title))
	fmt.Fprintf(&c.b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&c.b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	return c
}

func (c *canvas) text(x, y float64, anchor, s string, extra string) {
	fmt.Fprintf(&c.b, `<text x="%s" y="%s" text-anchor="%s"%s>%s</text>`+"\n", f(x), f(y), anchor, extra, esc(s))
}

func (c *canvas) line(x1, y1, x2, y2 float64, stroke string, extra string) {
	fmt.Fprintf(&c.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s/>`+"\n", f(x1), f(y1), f(x2), f(y2), stroke, extra)
}

// legend draws one entry per name down the right margin.
func (c *canvas) legend(names []string, colors []int, dashed []bool) {
	x := float64(width - right + 15)
	for i, n := range names {
		y := float64(top + 10 + 18*i)
		dash := ""
		if dashed[i] {
			dash = ` stroke-dasharray="5,3"`
		}
		c.line(x, y, x+22, y, color(colors[i]), ` stroke-width="3"`+dash)
		c.text(x+28, y+4, "start", n, ` class="legend"`)
	}
}

func (c *canvas) bytes() []byte {
	c.b.WriteString("</svg>\n")
	return []byte(c.b.String())
}

// axis maps values to pixels, linearly or on log10.
type axis struct {
	lo, hi   float64 // in axis units (log10 of the value on a log axis)
	log      bool
	from, to float64 // pixels
}

func newAxis(values []float64, log bool, from, to float64, zeroBased bool) axis {
	a := axis{lo: math.Inf(1), hi: math.Inf(-1), log: log, from: from, to: to}
	for _, v := range values {
		if log {
			v = math.Log10(v)
		}
		a.lo, a.hi = min(a.lo, v), max(a.hi, v)
	}
	if math.IsInf(a.lo, 0) {
		a.lo, a.hi = 0, 1
	}
	if log {
		a.lo, a.hi = math.Floor(a.lo), math.Ceil(a.hi)
	} else {
		if zeroBased {
			a.lo = min(0, a.lo)
		}
		a.hi = niceCeil(a.hi)
	}
	if a.hi <= a.lo {
		a.hi = a.lo + 1
	}
	return a
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return a.from + (v-a.lo)/(a.hi-a.lo)*(a.to-a.from)
}

// ticks are the values to label: every power of ten on a log axis (and 2 and 5 times it when
// it spans three decades or fewer), five steps on a linear one.
func (a axis) ticks() []float64 {
	var t []float64
	if a.log {
		steps := []float64{1}
		if a.hi-a.lo <= 3 {
			steps = []float64{1, 2, 5}
		}
		for e := a.lo; e <= a.hi; e++ {
			for _, m := range steps {
				if v := m * math.Pow(10, e); math.Log10(v) <= a.hi+1e-9 {
					t = append(t, v)
				}
			}
		}
		return t
	}
	for i := range 6 {
		t = append(t, a.lo+(a.hi-a.lo)*float64(i)/5)
	}
	return t
}

// label renders a tick value briefly: 1k, 10k, 1M, 0.5, 25%.
func label(v float64, percent bool) string {
	if percent {
		return strconv.FormatFloat(math.Round(v*1000)/10, 'f', -1, 64) + "%" // 0.07 → 7%, not 7.000000000000001%
	}
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// frame draws the plot's box, the grid and labels of the y axis, and the axis titles.
func (c *canvas) frame(y axis, yLabel, xLabel string, percent bool) {
	x0, x1 := float64(left), float64(width-right)
	for _, v := range y.ticks() {
		py := y.pos(v)
		c.line(x0, py, x1, py, "#e0e0e0", "")
		c.text(x0-6, py+4, "end", label(v, percent), "")
	}
	fmt.Fprintf(&c.b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333333"/>`+"\n", left, top, width-left-right, height-top-below)
	c.text(16, float64(top+(height-top-below)/2), "middle", yLabel, fmt.Sprintf(` transform="rotate(-90 16 %d)"`, top+(height-top-below)/2))
	c.text(float64(left+(width-left-right)/2), height-12, "middle", xLabel, "")
}

// SVG renders the line chart.
func (l Lines) SVG() []byte {
	c := newCanvas(l.Title)
	var xs, ys []float64
	keep := func(p Point) bool { return (!l.LogX || p.X > 0) && (!l.LogY || p.Y > 0) && !math.IsNaN(p.Y) }
	for _, s := range l.Series {
		for _, p := range s.Points {
			if keep(p) {
				xs, ys = append(xs, p.X), append(ys, p.Y)
			}
		}
	}
	x := newAxis(xs, l.LogX, left+10, width-right-10, false)
	if len(xs) > 0 { // the x axis spans exactly the data, whose values are its labels
		x.lo, x.hi = slices.Min(xs), slices.Max(xs)
		if l.LogX {
			x.lo, x.hi = math.Log10(x.lo), math.Log10(x.hi)
		}
		if x.hi <= x.lo {
			x.hi = x.lo + 1
		}
	}
	y := newAxis(ys, l.LogY, height-below, top, true)
	c.frame(y, l.YLabel, l.XLabel, false)
	seen := map[float64]bool{}
	for _, v := range xs {
		if seen[v] {
			continue
		}
		seen[v] = true
		px := x.pos(v)
		c.line(px, height-below, px, height-below+5, "#333333", "")
		c.text(px, height-below+18, "middle", label(v, false), "")
	}
	var names []string
	var colors []int
	var dashed []bool
	for _, s := range l.Series {
		var pts []Point
		for _, p := range s.Points {
			if keep(p) {
				pts = append(pts, p)
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b Point) int { return cmp.Compare(a.X, b.X) })
		col := color(s.Color)
		var path []string
		for _, p := range pts {
			path = append(path, f(x.pos(p.X))+","+f(y.pos(p.Y)))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="5,3"`
		}
		fmt.Fprintf(&c.b, `<polyline class="series" data-name="%s" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n",
			esc(s.Name), col, dash, strings.Join(path, " "))
		for _, p := range pts {
			fmt.Fprintf(&c.b, `<circle cx="%s" cy="%s" r="3" fill="%s"><title>%s: %s at %s</title></circle>`+"\n",
				f(x.pos(p.X)), f(y.pos(p.Y)), col, esc(s.Name), label(p.Y, false), label(p.X, false))
		}
		names, colors, dashed = append(names, s.Name), append(colors, s.Color), append(dashed, s.Dashed)
	}
	c.legend(names, colors, dashed)
	return c.bytes()
}

// SVG renders the grouped bar chart.
func (b Bars) SVG() []byte {
	c := newCanvas(b.Title)
	var vals []float64
	for _, s := range b.Series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				vals = append(vals, v)
			}
		}
	}
	y := newAxis(vals, false, height-below, top, true)
	c.frame(y, b.YLabel, "", b.Percent)
	groupW := float64(width-left-right) / float64(max(1, len(b.Groups)))
	barW := groupW * 0.8 / float64(max(1, len(b.Series)))
	for g, name := range b.Groups {
		gx := float64(left) + groupW*float64(g)
		c.text(gx+groupW/2, height-below+18, "middle", name, "")
		for i, s := range b.Series {
			if g >= len(s.Values) || math.IsNaN(s.Values[g]) {
				continue
			}
			v := s.Values[g]
			bx := gx + groupW*0.1 + barW*float64(i)
			top := y.pos(v)
			fmt.Fprintf(&c.b, `<rect class="bar" data-name="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
				esc(s.Name), f(bx), f(top), f(barW-1), f(y.pos(0)-top), color(s.Color), esc(s.Name), esc(name), label(round(v), b.Percent))
			if barW >= 18 {
				c.text(bx+barW/2, top-3, "middle", label(round(v), b.Percent), ` font-size="9"`)
			}
		}
	}
	names := make([]string, len(b.Series))
	colors := make([]int, len(b.Series))
	for i, s := range b.Series {
		names[i], colors[i] = s.Name, s.Color
	}
	c.legend(names, colors, make([]bool, len(b.Series)))
	return c.bytes()
}

// round keeps two significant decimals of a ratio (0.4567 → 0.46) for labels.
func round(v float64) float64 { return math.Round(v*100) / 100 }
