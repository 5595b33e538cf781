package report

import (
	"bytes"
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
