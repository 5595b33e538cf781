package reputation

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestProjectConstantPaceExact: a window sent at one even pace, followed by
// a constant recent pace, forecasts the crossing time a minute-by-minute
// simulation of the sliding window finds. The simulation is independent of
// the formula: it keeps one bucket per minute and slides.
func TestProjectConstantPaceExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 13))
	c := DefaultConfig()
	checked := 0
	for range 300 {
		W := time.Duration(1+r.IntN(24)) * time.Hour
		minutes := int(W.Minutes())
		s0 := 1 + r.IntN(50)       // sends per minute before
		e0 := r.IntN(s0*4/100 + 1) // below 5%
		s1 := 1 + r.IntN(50)       // sends per minute from now on
		e1 := s1*5/100 + r.IntN(s1/4+2)
		e1 = min(e1, s1)
		span := time.Duration(10+r.IntN(50)) * time.Minute
		S, E := int64(s0*minutes), int64(e0*minutes)
		if Reaches(E, S, c.Bounce.Critical) {
			continue
		}
		// The recent span was sent at the new pace: count it as such, so
		// the pace (per hour) is exactly s1 and e1 per minute.
		pace := Pace{Sends: int64(s1) * int64(span.Minutes()), Events: int64(e1) * int64(span.Minutes()), Span: span}
		f, ok := Project(E, S, W, pace, c.Bounce, c)
		// Simulate: minute k from now, the window holds (minutes-k) old
		// minutes and k new ones.
		sim := math.Inf(1)
		for k := 0; k <= minutes; k++ {
			sends := int64(s0*(minutes-k) + s1*k)
			ev := int64(e0*(minutes-k) + e1*k)
			if Reaches(ev, sends, c.Bounce.Critical) {
				sim = float64(k) / 60
				break
			}
		}
		if math.IsInf(sim, 1) {
			if ok {
				t.Fatalf("W=%s s0=%d e0=%d s1=%d e1=%d: forecast %.3f h, the simulation never crosses", W, s0, e0, s1, e1, f.Hours)
			}
			continue
		}
		if !ok {
			if pace.Sends < c.MinSendsWarning() || S < c.MinSends {
				continue
			}
			t.Fatalf("W=%s s0=%d e0=%d s1=%d e1=%d: no forecast, the simulation crosses at %.3f h", W, s0, e0, s1, e1, sim)
		}
		// The simulation finds the first whole minute at or past the crossing.
		if !(f.Hours <= sim+1e-9 && f.Hours > sim-1.0/60-1e-9) {
			t.Fatalf("W=%s s0=%d e0=%d s1=%d e1=%d: forecast %.4f h, simulation %.4f h", W, s0, e0, s1, e1, f.Hours, sim)
		}
		if !(f.Soonest <= f.Hours && f.Hours <= f.Latest) {
			t.Fatalf("range %.3f–%.3f does not hold %.3f", f.Soonest, f.Latest, f.Hours)
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d cases crossed; the generator is off", checked)
	}
}

func TestHoursToReachExact(t *testing.T) {
	// 24 h holding 2% of 24,000; from now 10% of 1,000 an hour. At t:
	// (480 + (100-20)t) / (24000 + (1000-1000)t) = 0.05 → t = 720/80 = 9.
	if got := HoursToReach(480, 24000, 24, 100, 1000, 0.05); math.Abs(got-9) > 1e-12 {
		t.Fatalf("HoursToReach = %v, want 9", got)
	}
	if got := HoursToReach(1300, 24000, 24, 100, 1000, 0.05); got != 0 {
		t.Fatalf("already over: %v", got)
	}
	if got := HoursToReach(480, 24000, 24, 40, 1000, 0.05); !math.IsInf(got, 1) {
		t.Fatalf("recent 4%%: %v, want +Inf", got)
	}
}

func TestProjectGuards(t *testing.T) {
	c := DefaultConfig()
	hour := Pace{Sends: 1000, Events: 100, Span: time.Hour}
	for _, tc := range []struct {
		name          string
		events, sends int64
		pace          Pace
		ok            bool
		target        Level
	}{
		{"forecasts critical", 480, 24000, hour, true, Critical},
		{"window below the minimum sample", 4, 499, hour, false, 0},
		{"recent span below the warning sample", 480, 24000, Pace{Sends: 99, Events: 50, Span: time.Hour}, false, 0},
		{"recent fraction below the threshold", 480, 24000, Pace{Sends: 1000, Events: 49, Span: time.Hour}, false, 0},
		{"over critical: forecasts pause-risk", 1300, 20000, Pace{Sends: 1000, Events: 200, Span: time.Hour}, true, PauseRisk},
		{"over pause-risk: nothing left", 2100, 20000, Pace{Sends: 1000, Events: 200, Span: time.Hour}, false, 0},
		{"no span", 480, 24000, Pace{Sends: 1000, Events: 100}, false, 0},
	} {
		f, ok := Project(tc.events, tc.sends, 24*time.Hour, tc.pace, c.Bounce, c)
		if ok != tc.ok || (ok && f.Target != tc.target) {
			t.Errorf("%s: ok=%v target=%s, want ok=%v target=%s", tc.name, ok, f.Target, tc.ok, tc.target)
		}
	}
}

func TestForecastText(t *testing.T) {
	c := DefaultConfig()
	f, ok := Project(480, 24000, 24*time.Hour, Pace{Sends: 1000, Events: 100, Span: time.Hour}, c.Bounce, c)
	if !ok {
		t.Fatal("no forecast")
	}
	got := f.Text()
	if !strings.HasPrefix(got, "at this pace: 5% in about 9 h (") || !strings.HasSuffix(got, "SES may review at 5%") {
		t.Fatalf("Text = %q", got)
	}
	c.Bounce.Critical = 40_000
	f, _ = Project(480, 24000, 24*time.Hour, Pace{Sends: 1000, Events: 100, Span: time.Hour}, c.Bounce, c)
	if got := f.Text(); !strings.HasPrefix(got, "at this pace: 4% (sesguard's critical threshold) in about ") || !strings.HasSuffix(got, "SES may review at 5%") {
		t.Fatalf("Text with a 4%% critical threshold = %q", got)
	}
	for h, want := range map[float64]string{0.25: "15 min", 1.54: "1.5 h", 3: "3 h", 12.4: "12 h", math.Inf(1): "never"} {
		if got := FormatHours(h); got != want {
			t.Errorf("FormatHours(%v) = %q, want %q", h, got, want)
		}
	}
}

// TestForecastJSON: an open range (the interval's low end never reaches
// the threshold) encodes, with latestHours null.
func TestForecastJSON(t *testing.T) {
	c := DefaultConfig()
	f, ok := Project(480, 24000, 24*time.Hour, Pace{Sends: 200, Events: 12, Span: time.Hour}, c.Bounce, c)
	if !ok || !math.IsInf(f.Latest, 1) {
		t.Fatalf("want an open range, got %+v (ok %v)", f, ok)
	}
	b, err := json.Marshal(f)
	if err != nil || !strings.Contains(string(b), `"latestHours":null`) || !strings.Contains(string(b), `"target":"critical"`) {
		t.Fatalf("%s, %v", b, err)
	}
	// It reads back: sesguard local decodes bouncewatch's reports.
	var back Forecast
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if back.Target != f.Target || back.Hours != f.Hours || back.Soonest != f.Soonest || !math.IsInf(back.Latest, 1) ||
		back.PaceSends != f.PaceSends || back.PaceSpan != f.PaceSpan || back.Recent != f.Recent {
		t.Errorf("round trip: got %+v, want %+v", back, f)
	}
	if err := json.Unmarshal([]byte(`{"target":"sideways"}`), &back); err == nil || !strings.Contains(err.Error(), "target") {
		t.Errorf("unknown target: err %v, want one naming the target", err)
	}
}
