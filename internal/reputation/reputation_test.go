package reputation

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PPM
		err  bool
	}{
		{"5", 50_000, false}, {"0.05", 500, false}, {"0.1%", 1_000, false}, {" 10 ", 100_000, false},
		{".5", 5_000, false}, {"100", PerMillion, false}, {"0.0001", 1, false},
		{"0.00001", 0, true}, {"-1", 0, true}, {"101", 0, true}, {"1e2", 0, true}, {"five", 0, true},
	} {
		got, err := ParsePercent(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParsePercent(%q) = %d, %v; want %d, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	c, err := ConfigFromEnv(get)
	if err != nil || c != DefaultConfig() {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	d := DefaultConfig()
	if d.Bounce.Warning.String() != "2%" || d.Bounce.Critical.String() != "5%" || d.Bounce.PauseRisk.String() != "10%" ||
		d.Complaint.Warning.String() != "0.05%" || d.Complaint.Critical.String() != "0.1%" || d.Complaint.PauseRisk.String() != "0.5%" {
		t.Fatalf("default thresholds wrong: %+v", d)
	}
	env[EnvBounceCritical] = "4"
	env[EnvMinSends] = "1000"
	env[EnvConfidenceZ] = "2.326"
	c, err = ConfigFromEnv(get)
	if err != nil || c.Bounce.Critical != 40_000 || c.MinSends != 1000 || c.Z != 2.326 {
		t.Fatalf("overrides: %+v, %v", c, err)
	}
	for k, v := range map[string]string{EnvBounceCritical: "1", EnvMinSends: "0", EnvConfidenceZ: "x", EnvComplaintWarning: "abc"} {
		env := map[string]string{k: v}
		_, err := ConfigFromEnv(func(s string) string { return env[s] })
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v, want one naming the variable", k, v, err)
		}
	}
	if d.MinSendsWarning() != 100 || (Config{MinSends: 3}).MinSendsWarning() != 1 {
		t.Errorf("MinSendsWarning = %d", d.MinSendsWarning())
	}
	if p := d.ConfidencePercent(); p != 95 {
		t.Errorf("ConfidencePercent = %v", p)
	}
}

func TestHeadroomTable(t *testing.T) {
	crit := PPM(50_000)
	for _, tc := range []struct {
		events, sends, want int64
	}{
		{0, 100, 5}, {4, 100, 1}, {5, 100, 0}, {9, 100, 0},
		{0, 10_000, 500}, {300, 10_000, 200}, {0, 1, 1}, {0, 19, 1}, {0, 21, 2},
		{0, 0, -1},
	} {
		if got := Headroom(tc.events, tc.sends, crit); got != tc.want {
			t.Errorf("Headroom(%d, %d) = %d, want %d", tc.events, tc.sends, got, tc.want)
		}
	}
}

// TestHeadroomProperty: adding exactly Headroom events at the current volume
// reaches the threshold; one fewer does not.
func TestHeadroomProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 2))
	for i := range 200_000 {
		sends := r.Int64N(1_000_000) + 1
		if i%3 == 0 {
			sends = r.Int64N(50) + 1 // small volumes exercise the rounding
		}
		events := r.Int64N(sends + 1)
		th := PPM(r.Int64N(PerMillion) + 1)
		h := Headroom(events, sends, th)
		if h < 0 {
			t.Fatalf("Headroom(%d, %d, %d) = %d", events, sends, th, h)
		}
		if !Reaches(events+h, sends, th) {
			t.Fatalf("events=%d sends=%d th=%d: +%d does not reach", events, sends, th, h)
		}
		if h > 0 && Reaches(events+h-1, sends, th) {
			t.Fatalf("events=%d sends=%d th=%d: +%d already reaches", events, sends, th, h-1)
		}
		if h == 0 != Reaches(events, sends, th) {
			t.Fatalf("events=%d sends=%d th=%d: headroom 0 but not reached, or the reverse", events, sends, th)
		}
		if events+h > sends {
			t.Fatalf("events=%d sends=%d th=%d: headroom %d exceeds remaining sends", events, sends, th, h)
		}
	}
}

func TestWilsonProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 50_000 {
		n := r.Int64N(100_000) + 1
		k := r.Int64N(n + 1)
		lo, hi := Wilson(k, n, 1.645)
		p := float64(k) / float64(n)
		if !(0 <= lo && lo <= p+1e-12 && p <= hi+1e-12 && hi <= 1) {
			t.Fatalf("Wilson(%d, %d) = [%v, %v], p=%v", k, n, lo, hi, p)
		}
		lo2, _ := Wilson(k*4, n*4, 1.645)
		if p > 0 && p < 1 && lo2 < lo-1e-12 {
			t.Fatalf("bound did not tighten with 4x sample: %v -> %v", lo, lo2)
		}
	}
	if lo, hi := Wilson(0, 0, 1.645); lo != 0 || hi != 1 {
		t.Fatalf("no sends: [%v, %v]", lo, hi)
	}
	// A known value: 60 of 1000 at z=1.645 has a lower bound of about 4.9%.
	if lo, _ := Wilson(60, 1000, 1.645); math.Abs(lo-0.0490) > 0.0005 {
		t.Fatalf("Wilson(60, 1000) lower = %v", lo)
	}
}

func TestAssessTable(t *testing.T) {
	c := DefaultConfig()
	b := c.Bounce
	for _, tc := range []struct {
		name           string
		events, sends  int64
		prev           Level
		rate, want     Level
		held, withNote bool
	}{
		{"no sends", 0, 0, OK, OK, OK, false, false},
		{"clean", 10, 10_000, OK, OK, OK, false, false},
		{"just under warning", 199, 10_000, OK, OK, OK, false, false},
		{"warning exactly at 2%", 200, 10_000, OK, Warning, Warning, false, false},
		{"no warning from a tiny sample", 1, 3, OK, PauseRisk, OK, false, true},
		{"no warning just below the warning volume", 2, 99, OK, Warning, OK, false, true},
		{"warning at the warning volume", 2, 100, OK, Warning, Warning, false, false},
		{"tiny sample holds an announced warning", 1, 3, Warning, PauseRisk, Warning, true, true},
		{"tiny sample below threshold recovers", 0, 3, Warning, OK, OK, false, false},
		{"critical confirmed", 600, 10_000, OK, Critical, Critical, false, false},
		{"critical too few sends", 30, 400, OK, Critical, Warning, false, true},
		{"critical bound not clear", 52, 1_000, OK, Critical, Warning, false, true},
		{"critical held by hysteresis", 52, 1_000, Critical, Critical, Critical, true, false},
		{"held level ends below threshold", 49, 1_000, Critical, Warning, Warning, false, false},
		{"pause-risk confirmed", 1_300, 10_000, OK, PauseRisk, PauseRisk, false, false},
		{"pause-risk not clear falls to critical", 1_010, 10_000, Warning, PauseRisk, Critical, false, true},
		{"held pause-risk still needs the volume", 60, 500, PauseRisk, PauseRisk, PauseRisk, true, false},
		{"held pause-risk below volume", 60, 499, PauseRisk, PauseRisk, Warning, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Assess(tc.events, tc.sends, b, tc.prev, c)
			if a.RateLevel != tc.rate || a.Level != tc.want || a.Held != tc.held || (a.Note != "") != tc.withNote {
				t.Fatalf("Assess(%d, %d, prev %s) = rate %s level %s held %v note %q; want %s %s %v note=%v",
					tc.events, tc.sends, tc.prev, a.RateLevel, a.Level, a.Held, a.Note, tc.rate, tc.want, tc.held, tc.withNote)
			}
			if a.Level > a.RateLevel {
				t.Fatalf("level %s above rate level %s", a.Level, a.RateLevel)
			}
		})
	}
}

// TestAssessProperty: the announced level never exceeds the rate's, never
// pages below MinSends, and adding events never lowers the rate level.
func TestAssessProperty(t *testing.T) {
	c := DefaultConfig()
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		n := r.Int64N(20_000)
		k := r.Int64N(n/5 + 1)
		prev := Levels[r.IntN(len(Levels))]
		a := Assess(k, n, c.Bounce, prev, c)
		if a.Level > a.RateLevel {
			t.Fatalf("%d/%d: level %s > rate level %s", k, n, a.Level, a.RateLevel)
		}
		if n < c.MinSends && a.Level >= Critical {
			t.Fatalf("%d/%d: %s from fewer than MinSends", k, n, a.Level)
		}
		if n < c.MinSendsWarning() && a.Level >= Warning && prev < Warning {
			t.Fatalf("%d/%d: %s entered from %s with fewer than MinSendsWarning", k, n, a.Level, prev)
		}
		if a.Level >= Critical && !a.Held && a.Lower*PerMillion < float64(c.Bounce.For(a.Level)) {
			t.Fatalf("%d/%d: %s entered with bound %v", k, n, a.Level, a.Lower)
		}
		if b := Assess(k+1, n, c.Bounce, prev, c); n > 0 && k < n && b.RateLevel < a.RateLevel {
			t.Fatalf("%d/%d: one more event lowered the rate level", k, n)
		}
	}
}

// TestMoreEventsThanSends: a trailing window can hold more hard bounces than
// sends (their sends fell out of the window). The bound must stay a number
// and the level must not be held down by it.
func TestMoreEventsThanSends(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct{ events, sends int64 }{{700, 600}, {601, 600}, {1, 1}, {2, 1}} {
		lo, hi := Wilson(tc.events, tc.sends, c.Z)
		if !(0 <= lo && lo <= hi && hi <= 1) {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want a finite interval in [0, 1]", tc.events, tc.sends, lo, hi)
		}
	}
	a := Assess(700, 600, c.Bounce, OK, c)
	if a.Level != PauseRisk || math.IsNaN(a.Lower) || a.Lower < c.Bounce.PauseRisk.Fraction() {
		t.Fatalf("Assess(700, 600) = level %s lower %v note %q; want pause-risk with a finite bound", a.Level, a.Lower, a.Note)
	}
	if a.Events != 700 || a.Sends != 600 {
		t.Fatalf("raw counts not kept: %d of %d", a.Events, a.Sends)
	}
	if strings.Contains(a.Note, "NaN") || strings.Contains(FormatRate(a.Lower), "NaN") {
		t.Fatalf("NaN in the assessment: %q", a.Note)
	}
}

func TestLevelStrings(t *testing.T) {
	for _, l := range Levels {
		got, err := ParseLevel(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), got, err)
		}
		if LevelOf(float64(l)) != l {
			t.Errorf("LevelOf(%d) != %s", l, l)
		}
	}
	if LevelOf(math.NaN()) != OK || LevelOf(7) != PauseRisk {
		t.Error("LevelOf does not clamp")
	}
	if _, err := ParseLevel("panic"); err == nil {
		t.Error("ParseLevel accepted an unknown level")
	}
}

func TestFormatRate(t *testing.T) {
	for in, want := range map[float64]string{0: "0.00%", 0.05: "5.00%", 0.0497: "4.97%", 0.00085: "0.085%"} {
		if got := FormatRate(in); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatRateBelow(t *testing.T) {
	for _, c := range []struct {
		rate float64
		t    PPM
		want string
	}{
		{0.000498, 500, "0.049%"}, // FormatRate says 0.050%: the 0.05% threshold itself
		{0.049996, 50_000, "4.99%"},
		{0.016666, 20_000, "1.67%"}, // far from it: rounded as usual
		{0, 20_000, "0.00%"},
	} {
		if got := FormatRateBelow(c.rate, c.t); got != c.want {
			t.Errorf("FormatRateBelow(%v, %v) = %q, want %q", c.rate, c.t, got, c.want)
		}
	}
}
