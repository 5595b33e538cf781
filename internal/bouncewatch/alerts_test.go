package bouncewatch

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/alert"
)

// TestMoreBouncesThanSendsAlerts: more hard bounces than eligible sends in
// the window (their sends fell out of it) is the worst case, not a reason
// to stay quiet; the alert must be JSON-encodable, as SNSSink needs.
func TestMoreBouncesThanSendsAlerts(t *testing.T) {
	var bodies [][]byte
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		return nil
	})
	rep, _ := evalOnce(t, testConfig(), 600, 700, nil, sink)
	if len(rep.Alerts) != 1 || rep.Alerts[0].Level != alert.LevelPauseRisk {
		t.Fatalf("alerts = %+v, want one pause-risk alert", rep.Alerts)
	}
	if len(bodies) != 1 || strings.Contains(string(bodies[0]), "NaN") {
		t.Fatalf("published %d bodies: %s", len(bodies), bodies)
	}
	if !strings.Contains(rep.Alerts[0].Summary, "700 hard bounces out of 600 eligible sends") {
		t.Fatalf("raw counts not shown: %q", rep.Alerts[0].Summary)
	}
}

// TestNumNotFinite: a figure whose number is NaN or infinite keeps its
// display text and drops the number, so the alert still encodes.
func TestNumNotFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		a := alert.Alert{Kind: alert.KindRate, Level: alert.LevelCritical, Title: "t",
			Figures: []alert.Figure{alert.Num("Bound", v, "n/a"), alert.Num("Rate", 0.5, "50.00%")}}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("Num(%v): marshal: %v", v, err)
		}
		if a.Figures[0].Number != nil || a.Figures[1].Number == nil || !strings.Contains(string(b), `"value":"n/a"`) {
			t.Fatalf("Num(%v): %s", v, b)
		}
	}
}
