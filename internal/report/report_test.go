package report

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriteStructure(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d := Data{Title: "t <x>", Start: day, End: day.Add(24 * time.Hour),
		BounceWarning: 0.02, BounceCritical: 0.05, ComplaintWarning: 0.0005, ComplaintCritical: 0.001,
		Series: []Series{{Scope: "domain:news.yourapp.com", Points: []Point{
			{Sim: day.Add(time.Hour), BounceRate: 0.01}, {Sim: day.Add(2 * time.Hour), BounceRate: 0.07}}}},
		Alerts:    []Marker{{Sim: day.Add(2 * time.Hour), Level: "critical", Title: "Bounce rate 7% <b>", Text: "x"}},
		Diagnoses: []Row{{Rule: "reject.region-mismatch", Severity: "critical", Count: 300}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="bounce-svg"`, `id="complaint-svg"`,
		`class="threshold threshold-warning"`, `class="threshold threshold-critical"`, `class="series" data-scope="domain:news.yourapp.com"`,
		`class="alert-marker level-critical"`, `<td>reject.region-mismatch</td>`, `t &lt;x&gt;`, `Bounce rate 7% &lt;b&gt;`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %s", want)
		}
	}
	if strings.Count(html, `class="alert-marker`) != 1 {
		t.Errorf("the bounce alert must be marked on the bounce chart only")
	}
	for _, banned := range []string{"<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(html, "http://www.w3.org/2000/svg", ""), banned) {
			t.Errorf("report refers to %s: it must be self-contained", banned)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.0258: 0.05, 0.02: 0.02, 0.021: 0.025, 0.0003: 0.0005, 0.00011: 0.0002, 0.7: 1} {
		if got := niceStep(raw); math.Abs(got-want) > want*1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

// TestTinySamples: a point from a handful of sends (1 bounce of 2: 50%)
// is not drawn as a rate and does not stretch the axis; it is marked as
// below the minimum sample. The pause-risk line, the legend for alert
// markers and readable threshold labels are there.
func TestTinySamples(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d := Data{Title: "t", Start: day, End: day.Add(24 * time.Hour),
		BounceWarning: 0.02, BounceCritical: 0.05, BouncePauseRisk: 0.10,
		ComplaintWarning: 0.0005, ComplaintCritical: 0.001, ComplaintPauseRisk: 0.005, MinSends: 100,
		Series: []Series{{Scope: "account us-east-1", Points: []Point{
			{Sim: day.Add(time.Hour), BounceRate: 0.5, ComplaintRate: 0.5, Sends: 2},
			{Sim: day.Add(2 * time.Hour), BounceRate: 0.03, Sends: 400},
			{Sim: day.Add(3 * time.Hour), BounceRate: 0.06, Sends: 900}}}},
		Alerts: []Marker{{Sim: day.Add(2 * time.Hour), Level: "warning", Title: "Bounce rate 3%"},
			{Sim: day.Add(3 * time.Hour), Level: "critical", Title: "Bounce rate 6%"}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`class="threshold threshold-pause-risk"`, `pause-risk 10.0%`,
		`class="legend legend-marker level-warning"`, `class="legend legend-marker level-critical"`,
		`class="unjudged"`, `below the minimum sample (100 sends): not judged`, `2 sends, below the minimum sample of 100`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %s", want)
		}
	}
	// The axis ends at the first tick above the pause-risk 10%, not at 50%.
	if strings.Contains(html, ">50.0%<") || !strings.Contains(html, ">15.0%<") {
		t.Errorf("bounce axis stretched by the tiny sample (or does not reach 15%%)")
	}
	if n := strings.Count(html, `<circle class="unjudged"`); n != 2 {
		t.Errorf("%d unjudged marks, want one per chart", n)
	}
	complaint := html[strings.Index(html, `id="complaint-svg"`):]
	complaint = complaint[:strings.Index(complaint, "</svg>")]
	// Threshold labels at least 12 px apart.
	ys := regexp.MustCompile(`class="threshold-label" x="\d+" y="([\d.-]+)"`).FindAllStringSubmatch(complaint, -1)
	if len(ys) != 3 {
		t.Fatalf("complaint threshold labels: %d", len(ys))
	}
	for i := 1; i < len(ys); i++ {
		a, _ := strconv.ParseFloat(ys[i-1][1], 64)
		b, _ := strconv.ParseFloat(ys[i][1], 64)
		if math.Abs(a-b) < 12 {
			t.Errorf("threshold labels %v and %v overlap", a, b)
		}
	}
}

// TestForecastProjection: a forecast is drawn past the evaluation that
// made it, on the bounce chart only, in its series' colour: a dashed
// line from the rate then to the threshold at the forecast's time, over
// a band from the soonest to the latest time on the threshold. One that
// runs past the chart's end is cut off there; an open range (Latest
// +Inf) keeps the band's lower edge at the rate.
func TestForecastProjection(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d := Data{Title: "t", Start: day, End: day.Add(24 * time.Hour),
		BounceWarning: 0.02, BounceCritical: 0.05, BouncePauseRisk: 0.10, ComplaintWarning: 0.0005, ComplaintCritical: 0.001,
		Series: []Series{{Scope: "account us-east-1", Points: []Point{{Sim: day.Add(13 * time.Hour), BounceRate: 0.01}, {Sim: day.Add(14 * time.Hour), BounceRate: 0.02}}},
			{Scope: "configuration-set:news", Points: []Point{{Sim: day.Add(13 * time.Hour), BounceRate: 0.02}, {Sim: day.Add(14 * time.Hour), BounceRate: 0.036}}}},
		Forecasts: []Projection{
			{Scope: "configuration-set:news", From: day.Add(14 * time.Hour), Rate: 0.036, Threshold: 0.05, Hours: 0.75, Soonest: 0.5, Latest: 1.5,
				Text: "5% in about 45 min (30 min–1.5 h) <SES>"},
			{Scope: "account us-east-1", From: day.Add(23 * time.Hour), Rate: 0.02, Threshold: 0.05, Hours: 3, Soonest: 0.5, Latest: math.Inf(1), Text: "open"},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	bounce := html[strings.Index(html, `id="bounce-svg"`):strings.Index(html, `id="complaint-svg"`)]
	if strings.Contains(html[strings.Index(html, `id="complaint-svg"`):], `class="forecast`) {
		t.Error("a bounce forecast drawn on the complaint chart")
	}
	// The plot: 876 px for 24 h from x 64; 0 to 15% over 234 px down from y 34.
	x := func(h float64) float64 { return 64 + h/24*876 }
	y := func(v float64) float64 { return 34 + (1-v/0.15)*234 }
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("not a number: %q", s)
		}
		return f
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.06 {
			t.Errorf("%s = %.1f, want %.1f", what, got, want)
		}
	}
	groups := regexp.MustCompile(`<g class="forecast" data-scope="([^"]+)">(.*?)</g>`).FindAllStringSubmatch(bounce, -1)
	if len(groups) != 2 {
		t.Fatalf("%d forecasts drawn, want 2", len(groups))
	}
	line := regexp.MustCompile(`<line class="forecast-line" x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="(#\w+)" stroke-width="2" stroke-dasharray="5 4"/>`)
	band := regexp.MustCompile(`<polygon class="forecast-band" points="([^"]+)" fill="(#\w+)"`)
	points := func(s string) [][2]float64 {
		var out [][2]float64
		for _, p := range strings.Fields(s) {
			a, b, _ := strings.Cut(p, ",")
			out = append(out, [2]float64{num(a), num(b)})
		}
		return out
	}

	news := groups[0]
	if news[1] != "configuration-set:news" {
		t.Fatalf("first forecast drawn for %s", news[1])
	}
	l := line.FindStringSubmatch(news[2])
	if l == nil {
		t.Fatalf("no dashed forecast line in %s", news[2])
	}
	if l[5] != palette[1] {
		t.Errorf("forecast colour %s, want its series' %s", l[5], palette[1])
	}
	near("line x1", num(l[1]), x(14))
	near("line y1", num(l[2]), y(0.036))
	near("line x2", num(l[3]), x(14.75))
	near("line y2", num(l[4]), y(0.05))
	bm := band.FindStringSubmatch(news[2])
	if bm == nil {
		t.Fatalf("no band in %s", news[2])
	}
	want := [][2]float64{{x(14), y(0.036)}, {x(14.5), y(0.05)}, {x(15.5), y(0.05)}}
	got := points(bm[1])
	if len(got) != len(want) {
		t.Fatalf("band points %v, want %v", got, want)
	}
	for i := range want {
		near(fmt.Sprintf("band point %d x", i), got[i][0], want[i][0])
		near(fmt.Sprintf("band point %d y", i), got[i][1], want[i][1])
	}
	if !strings.Contains(news[2], `forecast 14:00: 5% in about 45 min (30 min–1.5 h) &lt;SES&gt;`) {
		t.Errorf("forecast label missing or unescaped: %s", news[2])
	}

	// Cut off at the chart's end (24:00, a third of the way to 3 h); the
	// open range's lower edge stays at the rate.
	acct := groups[1][2]
	l = line.FindStringSubmatch(acct)
	if l == nil {
		t.Fatalf("no dashed line in %s", acct)
	}
	near("cut line x2", num(l[3]), x(24))
	near("cut line y2", num(l[4]), y(0.02+0.03/3))
	got = points(band.FindStringSubmatch(acct)[1])
	want = [][2]float64{{x(23), y(0.02)}, {x(23.5), y(0.05)}, {x(24), y(0.05)}, {x(24), y(0.02)}}
	if len(got) != len(want) {
		t.Fatalf("open band points %v, want %v", got, want)
	}
	for i := range want {
		near(fmt.Sprintf("open band point %d x", i), got[i][0], want[i][0])
		near(fmt.Sprintf("open band point %d y", i), got[i][1], want[i][1])
	}
	if !strings.Contains(bounce, `class="legend legend-forecast"`) {
		t.Error("no legend entry for the forecast")
	}
}
