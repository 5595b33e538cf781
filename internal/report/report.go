// Package report writes report.html for `sesguard local`: the bounce and
// complaint rates over the simulated day against the threshold lines (an
// inline SVG chart), where alerts fired, and the diagnoses by rule. The page
// is self-contained: no scripts, fonts or images from anywhere else.
package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// Point is one evaluation of one scope.
type Point struct {
	Sim                       time.Time
	BounceRate, ComplaintRate float64 // fractions
	Sends                     int64
}

// Series is one scope's rates over the scenario.
type Series struct {
	Scope  string
	Points []Point
}

// Marker is an alert on the time axis.
type Marker struct {
	Sim   time.Time
	Level string
	Title string
	Text  string // RenderText of the alert
}

// Projection is a bounce-rate forecast drawn past the evaluation that
// made it ("now" then): from Rate at From to Threshold in Hours at the
// recent pace (a dashed line), and between Soonest and Latest, the times
// at the ends of the interval on the recent bounce fraction (a band).
// Latest is +Inf when the low end never gets there: the band's lower edge
// then stays at Rate. What lies past the chart's end is cut off there.
type Projection struct {
	Scope                  string // the Series it continues
	From                   time.Time
	Rate, Threshold        float64 // fractions
	Hours, Soonest, Latest float64
	// Text says it in words ("5% in about 41 min (27 min–1.2 h)").
	Text string
}

// Row is one line of the diagnoses table.
type Row struct {
	Rule     string
	Severity string
	Count    int
}

// Data is everything the report shows.
type Data struct {
	Title      string
	Subtitle   string
	Start, End time.Time
	// Thresholds are fractions: bounce warning and critical, complaint
	// warning and critical.
	BounceWarning, BounceCritical       float64
	ComplaintWarning, ComplaintCritical float64
	// BouncePauseRisk and ComplaintPauseRisk are the pause-risk thresholds
	// (fractions); zero draws no pause-risk line.
	BouncePauseRisk, ComplaintPauseRisk float64
	// MinSends is the sample below which a rate is not judged: such points
	// are not drawn as rates (a handful of sends gives 0% or 100%, which
	// would stretch the axis) but as "below the minimum sample" marks.
	// Zero judges every point.
	MinSends int64
	Series   []Series
	// Forecasts are drawn on the bounce chart.
	Forecasts []Projection
	Alerts    []Marker
	Diagnoses []Row
	Checks    []Check
}

// Check is one expectation and whether it held.
type Check struct {
	OK   bool
	Text string
}

const (
	width, height          = 960, 330
	padL, padR, padT, padB = 64, 20, 34, 62
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

type chart struct {
	ID, Title string
	SVG       template.HTML
}

// Write renders d as a self-contained HTML page.
func Write(w io.Writer, d Data) error {
	charts := []chart{
		{"bounce-chart", "Bounce rate", svgChart("bounce", d, func(p Point) float64 { return p.BounceRate },
			[]float64{d.BounceWarning, d.BounceCritical, d.BouncePauseRisk}, d.Forecasts)},
		{"complaint-chart", "Complaint rate", svgChart("complaint", d, func(p Point) float64 { return p.ComplaintRate },
			[]float64{d.ComplaintWarning, d.ComplaintCritical, d.ComplaintPauseRisk}, nil)},
	}
	return page.Execute(w, struct {
		Data
		Charts []chart
	}{d, charts})
}

func svgChart(kind string, d Data, val func(Point) float64, thresholds []float64, forecasts []Projection) template.HTML {
	maxY := 0.0
	for _, t := range thresholds {
		maxY = math.Max(maxY, t)
	}
	for _, f := range forecasts {
		maxY = math.Max(maxY, f.Threshold)
	}
	judged := func(p Point) bool { return d.MinSends == 0 || p.Sends >= d.MinSends }
	for _, s := range d.Series {
		for _, p := range s.Points {
			if judged(p) {
				maxY = math.Max(maxY, val(p))
			}
		}
	}
	maxY *= 1.1
	if maxY == 0 {
		maxY = 0.01
	}
	// Ticks at round values (1, 2, 2.5 or 5 times a power of ten), the
	// axis up to the first tick above the data.
	step := niceStep(maxY / 4)
	maxY = math.Ceil(maxY/step-1e-9) * step
	span := d.End.Sub(d.Start).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		return padL + (t.Sub(d.Start).Seconds()/span)*float64(width-padL-padR)
	}
	y := func(v float64) float64 { return padT + (1-v/maxY)*float64(height-padT-padB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="%s-svg" viewBox="0 0 %d %d" role="img" aria-label="%s rate over the scenario">`, kind, width, height, kind)
	fmt.Fprintf(&b, `<rect class="plot" x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>`, padL, padT, width-padL-padR, height-padT-padB)
	for i := 0; float64(i)*step <= maxY*(1+1e-9); i++ {
		v := float64(i) * step
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end" font-size="11">%s</text>`, padL-6, y(v)+4, pct(v))
	}
	for h := 0; h <= int(d.End.Sub(d.Start).Hours()); h += 3 {
		t := d.Start.Add(time.Duration(h) * time.Hour)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle" font-size="11">%s</text>`, x(t), height-padB+16, t.Format("15:04"))
	}
	// Threshold lines; their labels at least 12 px apart, so close
	// thresholds (0.05% and 0.1% on a 0.5% axis) stay readable.
	names := []string{"warning", "critical", "pause-risk"}
	lineColours := []string{"#e6a700", "#c00", "#7a0000"}
	labelColours := []string{"#a67800", "#c00", "#7a0000"}
	lastLabel := math.Inf(1)
	for i, t := range thresholds {
		if t <= 0 {
			continue
		}
		fmt.Fprintf(&b, `<line class="threshold threshold-%s" x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`,
			names[i], padL, width-padR, y(t), y(t), lineColours[i])
		ly := math.Min(y(t)-4, lastLabel-12)
		lastLabel = ly
		fmt.Fprintf(&b, `<text class="threshold-label" x="%d" y="%.1f" text-anchor="end" font-size="11" fill="%s">%s %s</text>`,
			width-padR-4, ly, labelColours[i], names[i], pct(t))
	}
	markerLevels := map[string]bool{}
	for _, m := range d.Alerts {
		if !strings.Contains(strings.ToLower(m.Title), kind) {
			continue
		}
		markerLevels[m.Level] = true
		fmt.Fprintf(&b, `<g class="alert-marker level-%s"><line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="1.5"/><title>%s %s</title></g>`,
			template.HTMLEscapeString(m.Level), x(m.Sim), x(m.Sim), padT, height-padB, levelColour(m.Level),
			m.Sim.Format("15:04"), template.HTMLEscapeString(m.Title))
	}
	colourOf := map[string]string{}
	for i, s := range d.Series {
		colourOf[s.Scope] = palette[i%len(palette)]
	}
	for i, f := range forecasts {
		b.WriteString(projectionSVG(f, d.Start, d.End, colourOf[f.Scope], 6+14*float64(i), x, y))
	}
	legendX := padL
	var unjudged []Point
	var unjudgedScope []string
	for i, s := range d.Series {
		if len(s.Points) == 0 {
			continue
		}
		// Judged points are joined; a point below the minimum sample
		// breaks the line and is marked on the axis instead.
		var segs [][]string
		var cur []string
		for _, p := range s.Points {
			if !judged(p) {
				unjudged = append(unjudged, p)
				unjudgedScope = append(unjudgedScope, s.Scope)
				if len(cur) > 0 {
					segs, cur = append(segs, cur), nil
				}
				continue
			}
			cur = append(cur, fmt.Sprintf("%.1f,%.1f", x(p.Sim), y(val(p))))
		}
		if len(cur) > 0 {
			segs = append(segs, cur)
		}
		c := palette[i%len(palette)]
		// The first series (the account) is drawn wide and pale underneath:
		// a scope with the same rates, drawn over it, leaves it visible.
		widthAttr := `stroke-width="2"`
		if i == 0 {
			widthAttr = `stroke-width="6" stroke-opacity="0.35"`
		}
		for _, pts := range segs {
			if len(pts) == 1 {
				cx, cy, _ := strings.Cut(pts[0], ",")
				fmt.Fprintf(&b, `<circle class="series-point" data-scope="%s" cx="%s" cy="%s" r="3" fill="%s"/>`,
					template.HTMLEscapeString(s.Scope), cx, cy, c)
				continue
			}
			fmt.Fprintf(&b, `<polyline class="series" data-scope="%s" fill="none" stroke="%s" %s points="%s"/>`,
				template.HTMLEscapeString(s.Scope), c, widthAttr, strings.Join(pts, " "))
		}
		// The legend is a row above the plot, clear of the threshold labels.
		fmt.Fprintf(&b, `<text class="legend" x="%d" y="%d" font-size="12" fill="%s">■ %s</text>`, legendX, padT-10, c, template.HTMLEscapeString(s.Scope))
		legendX += 24 + 7*len(s.Scope)
	}
	for i, p := range unjudged {
		fmt.Fprintf(&b, `<circle class="unjudged" cx="%.1f" cy="%.1f" r="3" fill="none" stroke="#888"><title>%s %s: %d sends, below the minimum sample of %d: not judged</title></circle>`,
			x(p.Sim), y(0), p.Sim.Format("15:04"), template.HTMLEscapeString(unjudgedScope[i]), p.Sends, d.MinSends)
	}
	// The legend rows under the time axis: what the marks mean (a second
	// row when the first is full).
	lx, ly := padL, height-26
	item := func(class, mark, colour, text string) {
		w := 30 + 7*len([]rune(text))
		if lx > padL && lx+w-30 > width-padR {
			lx, ly = padL, ly+16
		}
		fmt.Fprintf(&b, `<text class="legend %s" x="%d" y="%d" font-size="12" fill="%s">%s %s</text>`, class, lx, ly, colour, mark, text)
		lx += w
	}
	for _, l := range []string{"info", "warning", "critical", "pause-risk"} {
		if markerLevels[l] {
			item("legend-marker level-"+l, "│", levelColour(l), l+" alert fired")
		}
	}
	for i, t := range thresholds {
		if t > 0 {
			item("legend-threshold", "┄", lineColours[i], names[i]+" threshold")
		}
	}
	if len(forecasts) > 0 {
		item("legend-forecast", "╌", "#555", "forecast at the recent pace, band: its range")
	}
	if len(unjudged) > 0 {
		item("legend-unjudged", "○", "#888", fmt.Sprintf("below the minimum sample (%d sends): not judged", d.MinSends))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// projectionSVG draws f: its band under a dashed line from (From, Rate)
// to the threshold, in the colour of its series, labelled rise px above
// the line's end (forecasts' labels are staggered); x and y map time and
// rate to the plot.
func projectionSVG(f Projection, start, end time.Time, colour string, rise float64, x func(time.Time) float64, y func(float64) float64) string {
	if colour == "" {
		colour = "#555"
	}
	// at is where the line that reaches the threshold in h hours meets
	// the threshold, or the chart's end if that comes first (+Inf: it
	// stays at Rate); clipped reports the latter.
	at := func(h float64) (px, py float64, clipped bool) {
		if math.IsInf(h, 1) || math.IsNaN(h) {
			return x(end), y(f.Rate), true
		}
		reach := f.From.Add(time.Duration(h * float64(time.Hour)))
		if !reach.After(end) {
			return x(reach), y(f.Threshold), false
		}
		frac := end.Sub(f.From).Hours() / h
		return x(end), y(f.Rate + (f.Threshold-f.Rate)*frac), true
	}
	if f.From.Before(start) || !f.From.Before(end) {
		return ""
	}
	x0, y0 := x(f.From), y(f.Rate)
	sx, sy, sClipped := at(f.Soonest)
	lx, ly, lClipped := at(f.Latest)
	band := fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x0, y0, sx, sy)
	if !sClipped && lClipped {
		band += fmt.Sprintf(" %.1f,%.1f", x(end), y(f.Threshold)) // the band's corner on the threshold
	}
	band += fmt.Sprintf(" %.1f,%.1f", lx, ly)
	hx, hy, _ := at(f.Hours)
	label := "forecast " + f.From.Format("15:04") + ": " + f.Text
	var b strings.Builder
	fmt.Fprintf(&b, `<g class="forecast" data-scope="%s"><title>%s</title>`, template.HTMLEscapeString(f.Scope), template.HTMLEscapeString(f.Scope+", "+label))
	fmt.Fprintf(&b, `<polygon class="forecast-band" points="%s" fill="%s" fill-opacity="0.15" stroke="none"/>`, band, colour)
	fmt.Fprintf(&b, `<line class="forecast-line" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="5 4"/>`,
		x0, y0, hx, hy, colour)
	anchor := "start"
	if hx > x(end)-260 {
		anchor = "end"
	}
	fmt.Fprintf(&b, `<text class="forecast-label" x="%.1f" y="%.1f" text-anchor="%s" font-size="11" fill="%s">%s</text></g>`,
		hx, hy-rise, anchor, colour, template.HTMLEscapeString(label))
	return b.String()
}

func levelColour(l string) string {
	switch l {
	case "ok":
		return "#2ca02c"
	case "warning":
		return "#e6a700"
	case "info":
		return "#1f77b4"
	}
	return "#c00"
}

// niceStep is the smallest of 1, 2, 2.5, 5 times a power of ten that is at
// least raw (> 0).
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func pct(v float64) string {
	if v < 0.01 {
		return fmt.Sprintf("%.3f%%", v*100)
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"hm": func(t time.Time) string { return t.Format("15:04") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
td.n{text-align:right}pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}
.ok{color:#2ca02c}.fail{color:#c00}
</style></head><body>
<h1>{{.Title}}</h1><p>{{.Subtitle}}</p>
{{range .Charts}}<section id="{{.ID}}"><h2>{{.Title}}</h2>{{.SVG}}</section>
{{end}}
<h2>Alerts in the order they fired</h2>
<table id="alerts"><tr><th>simulated time</th><th>level</th><th>alert</th></tr>
{{range .Alerts}}<tr class="alert level-{{.Level}}"><td>{{hm .Sim}}</td><td>{{.Level}}</td><td><details><summary>{{.Title}}</summary><pre>{{.Text}}</pre></details></td></tr>
{{end}}</table>
<h2>Diagnoses by rule</h2>
<table id="diagnoses"><tr><th>rule</th><th>severity</th><th>count</th></tr>
{{range .Diagnoses}}<tr><td>{{.Rule}}</td><td>{{.Severity}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</table>
{{if .Checks}}<h2>Checks</h2><ul id="checks">{{range .Checks}}<li class="{{if .OK}}ok{{else}}fail{{end}}">{{if .OK}}✓{{else}}✗{{end}} {{.Text}}</li>{{end}}</ul>{{end}}
</body></html>
`))
