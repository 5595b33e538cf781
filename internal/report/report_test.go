package report

import (
	"bytes"
	"math"
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
