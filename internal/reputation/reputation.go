// Package reputation is the rate arithmetic behind bouncewatch: thresholds,
// the bounce and complaint rates the way SES computes them, a confidence
// bound, the alert level and the headroom left before the critical
// threshold. It is pure: no I/O, no clock.
//
// Thresholds are held as integer parts per million (PPM) and every
// comparison of a rate with a threshold is done in integers
// (events*1e6 >= ppm*sends), so Level and Headroom can never disagree by a
// rounding error.
//
// Rates: the bounce rate is hard bounces over eligible sends, where hard
// bounces are Permanent bounces other than OnAccountSuppressionList, and
// eligible sends are sends minus those account-suppressed ones (SES counts
// neither). Soft bounces and mailbox-simulator recipients are left out
// entirely. The complaint rate is complaints over the same eligible sends.
package reputation

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sesguard/sesguard/internal/envvar"
)

// PPM is a rate in parts per million: 50000 = 5%.
type PPM int64

// PerMillion is the PPM of a rate of 1.
const PerMillion = 1_000_000

// Percent returns p as a percentage, e.g. 5 for 50000.
func (p PPM) Percent() float64 { return float64(p) / 10_000 }

// Fraction returns p as a fraction, e.g. 0.05 for 50000.
func (p PPM) Fraction() float64 { return float64(p) / PerMillion }

// String formats p as a percentage with the digits it needs: "5%", "0.05%".
func (p PPM) String() string {
	return strconv.FormatFloat(p.Percent(), 'f', -1, 64) + "%"
}

// Level is how close a rate is to SES's enforcement thresholds.
type Level int

// Levels, from calm to urgent.
const (
	OK Level = iota
	Warning
	Critical
	PauseRisk
)

// Levels lists every Level, from calm to urgent.
var Levels = []Level{OK, Warning, Critical, PauseRisk}

var levelNames = [...]string{"ok", "warning", "critical", "pause-risk"}

// String returns "ok", "warning", "critical" or "pause-risk".
func (l Level) String() string {
	if l < OK || l > PauseRisk {
		return "level(" + strconv.Itoa(int(l)) + ")"
	}
	return levelNames[l]
}

// ParseLevel maps a level's String (or its number) back to the Level.
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if s == n || s == strconv.Itoa(i) {
			return Level(i), nil
		}
	}
	return OK, fmt.Errorf("unknown level %q", s)
}

// LevelOf converts a level read back from a metric (its number) to a Level,
// clamped to the known range; NaN counts as OK.
func LevelOf(v float64) Level {
	if math.IsNaN(v) || v < 0 {
		return OK
	}
	return min(Level(math.Round(v)), PauseRisk)
}

// Thresholds are the rates at which each level starts (inclusive: SES says
// "5% or greater").
type Thresholds struct {
	Warning, Critical, PauseRisk PPM
}

// For returns the threshold at which level l starts; OK starts at 0.
func (t Thresholds) For(l Level) PPM {
	switch l {
	case Warning:
		return t.Warning
	case Critical:
		return t.Critical
	case PauseRisk:
		return t.PauseRisk
	}
	return 0
}

func (t Thresholds) validate(what string) error {
	if !(0 < t.Warning && t.Warning < t.Critical && t.Critical < t.PauseRisk && t.PauseRisk <= PerMillion) {
		return fmt.Errorf("%s thresholds must satisfy 0 < warning < critical < pause-risk <= 100%%, got %s, %s, %s", what, t.Warning, t.Critical, t.PauseRisk)
	}
	return nil
}

// Environment variables read by ConfigFromEnv. Percentages are plain
// numbers ("5", "0.1"); a trailing "%" is accepted.
const (
	EnvBounceWarning      = "BOUNCE_WARNING_PERCENT"
	EnvBounceCritical     = "BOUNCE_CRITICAL_PERCENT"
	EnvBouncePauseRisk    = "BOUNCE_PAUSE_RISK_PERCENT"
	EnvComplaintWarning   = "COMPLAINT_WARNING_PERCENT"
	EnvComplaintCritical  = "COMPLAINT_CRITICAL_PERCENT"
	EnvComplaintPauseRisk = "COMPLAINT_PAUSE_RISK_PERCENT"
	EnvMinSends           = "MIN_SENDS"
	EnvConfidenceZ        = "CONFIDENCE_Z"
)

// EnvVars lists every variable ConfigFromEnv reads.
var EnvVars = []string{
	EnvBounceWarning, EnvBounceCritical, EnvBouncePauseRisk,
	EnvComplaintWarning, EnvComplaintCritical, EnvComplaintPauseRisk,
	EnvMinSends, EnvConfidenceZ,
}

// Config holds the thresholds and small-sample rules.
type Config struct {
	Bounce, Complaint Thresholds
	// MinSends is the smallest number of eligible sends in the window from
	// which a level of Critical or above may be announced. A Warning needs
	// MinSendsWarning (derived from it, so no further setting).
	MinSends int64
	// Z is the normal quantile of the one-sided lower confidence bound a
	// rate must clear to enter Critical or PauseRisk (1.645: 95%).
	Z float64
}

// DefaultConfig returns the defaults: bounce 2% / 5% / 10%, complaint
// 0.05% / 0.1% / 0.5%, at least 500 sends, 95% one-sided bound.
func DefaultConfig() Config {
	return Config{
		Bounce:    Thresholds{Warning: 20_000, Critical: 50_000, PauseRisk: 100_000},
		Complaint: Thresholds{Warning: 500, Critical: 1_000, PauseRisk: 5_000},
		MinSends:  500,
		Z:         1.645,
	}
}

// MinSendsWarning is the smallest number of eligible sends in the window
// from which a Warning may be entered: a fifth of MinSends (100 by
// default), at least 1. Below it one bounce in three sends would announce a
// 33% warning and, a run later, its recovery.
func (c Config) MinSendsWarning() int64 { return max(1, c.MinSends/5) }

// ConfidencePercent is the one-sided confidence level of Z, e.g. 95.
func (c Config) ConfidencePercent() float64 {
	return math.Round(1000*0.5*math.Erfc(-c.Z/math.Sqrt2)) / 10
}

// ConfigFromEnv reads Config from the environment, starting from
// DefaultConfig. Errors name the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	for _, p := range []struct {
		env string
		dst *PPM
	}{
		{EnvBounceWarning, &c.Bounce.Warning}, {EnvBounceCritical, &c.Bounce.Critical}, {EnvBouncePauseRisk, &c.Bounce.PauseRisk},
		{EnvComplaintWarning, &c.Complaint.Warning}, {EnvComplaintCritical, &c.Complaint.Critical}, {EnvComplaintPauseRisk, &c.Complaint.PauseRisk},
	} {
		s := getenv(p.env)
		if s == "" {
			continue
		}
		v, err := ParsePercent(s)
		if err != nil {
			errs = append(errs, envvar.Bad(p.env, s, "want a percentage between 0 and 100, like 5 or 0.05 (at most 4 decimals)"))
			continue
		}
		*p.dst = v
	}
	if s := getenv(EnvMinSends); s != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, envvar.Bad(EnvMinSends, s, "want a whole number of sends >= 1"))
		} else {
			c.MinSends = n
		}
	}
	if s := getenv(EnvConfidenceZ); s != "" {
		z, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || !(z >= 0 && z <= 10) {
			errs = append(errs, envvar.Bad(EnvConfidenceZ, s, "want a number between 0 and 10 (1.645 = 95% one-sided)"))
		} else {
			c.Z = z
		}
	}
	if len(errs) == 0 {
		// Only thresholds that all parsed can be compared.
		if err := c.Bounce.validate("bounce"); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s/%s: %w", EnvBounceWarning, EnvBounceCritical, EnvBouncePauseRisk, err))
		}
		if err := c.Complaint.validate("complaint"); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s/%s: %w", EnvComplaintWarning, EnvComplaintCritical, EnvComplaintPauseRisk, err))
		}
	}
	return c, errors.Join(errs...)
}

// ParsePercent parses "5", "0.05" or "0.1%" as a percentage, exactly to
// 1/10000 of a percent (one PPM).
func ParsePercent(s string) (PPM, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 4 || strings.ContainsAny(whole+frac, "+-eE") {
		return 0, fmt.Errorf("%q: want a percentage like 5 or 0.05 (at most 4 decimals)", s)
	}
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt((frac + "0000")[:4], 10, 64)
	if err1 != nil || err2 != nil || w > 100 || (w == 100 && f > 0) {
		return 0, fmt.Errorf("%q: want a percentage between 0 and 100", s)
	}
	return PPM(w*10_000 + f), nil
}

// Reaches reports whether events out of sends is at or above t. With no
// sends nothing is reached.
func Reaches(events, sends int64, t PPM) bool {
	return sends > 0 && events*PerMillion >= int64(t)*sends
}

// Headroom returns how many more events (hard bounces or complaints),
// among the sends already made, would bring events/sends to t: the
// smallest b >= 0 with Reaches(events+b, sends, t). "At the current
// volume" means the denominator stays as it is; that matches how bounces
// arrive, after the sends they belong to. It is 0 when t is already
// reached and -1 when there are no sends (no rate to speak of).
func Headroom(events, sends int64, t PPM) int64 {
	if sends <= 0 {
		return -1
	}
	need := (int64(t)*sends + PerMillion - 1) / PerMillion // ceil(t*sends/1e6)
	return max(0, need-events)
}

// Wilson returns the Wilson score interval for events out of sends at
// normal quantile z. With no sends it is [0, 1].
//
// events is clamped to [0, sends]: a trailing window can hold more hard
// bounces than sends (bounces arrive after the sends they belong to, which
// may have left the window), and a proportion above 1 would make
// p*(1-p) negative and the bound NaN.
func Wilson(events, sends int64, z float64) (lo, hi float64) {
	if sends <= 0 {
		return 0, 1
	}
	n := float64(sends)
	p := float64(min(max(events, 0), sends)) / n
	z2 := z * z
	den := 1 + z2/n
	center := (p + z2/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / den
	return max(0, center-half), min(1, center+half)
}

// Assessment is one rate judged against its thresholds.
type Assessment struct {
	Events, Sends int64   // numerator and eligible sends in the window
	Rate          float64 // Events/Sends, 0 with no sends
	Lower, Upper  float64 // confidence bound (Wilson)
	// RateLevel is the level the point rate alone reaches; Level is the
	// level to announce after the small-sample rules (never above
	// RateLevel).
	RateLevel, Level Level
	// Held is true when Level was kept from the previous announcement
	// without the bound clearing it again (hysteresis).
	Held bool
	// Note says why Level is below RateLevel, in one sentence ("" if not).
	Note string
	// Headroom is Headroom(Events, Sends, critical threshold).
	Headroom int64
}

// Assess judges events out of sends against th. prev is the level last
// announced for this rate; it lets a level hold while the point rate stays
// at or above its threshold, so a rate near a threshold does not flap.
//
// The rules: Warning needs the point rate and at least
// c.MinSendsWarning() sends; below that volume the level stays OK, or a
// Warning already announced holds while the rate still reaches it (so a
// quiet night neither pages nor announces a recovery the rate does not
// show). Critical and PauseRisk also need at least c.MinSends sends and, to
// be entered from below, the lower confidence bound at or above the
// threshold; a level that cannot be confirmed falls back one step at a
// time, down to Warning and then by the Warning rule.
func Assess(events, sends int64, th Thresholds, prev Level, c Config) Assessment {
	a := Assessment{Events: events, Sends: sends, Headroom: Headroom(events, sends, th.Critical)}
	if sends > 0 {
		a.Rate = float64(events) / float64(sends)
	}
	a.Lower, a.Upper = Wilson(events, sends, c.Z)
	for _, l := range Levels[1:] {
		if Reaches(events, sends, th.For(l)) {
			a.RateLevel = l
		}
	}
	a.Level = a.RateLevel
	for a.Level >= Critical {
		t := th.For(a.Level)
		if sends < c.MinSends {
			a.Note = fmt.Sprintf("the rate %s reaches the %s %s threshold, but %d sends are fewer than the %d needed to announce it",
				FormatRate(a.Rate), a.Level, t, sends, c.MinSends)
			a.Level = Warning
			break
		}
		if prev >= a.Level {
			a.Held = true
			break
		}
		if a.Lower*PerMillion >= float64(t) {
			break
		}
		a.Note = fmt.Sprintf("the rate %s reaches the %s %s threshold, but its %g%% lower bound %s does not yet",
			FormatRate(a.Rate), a.Level, t, c.ConfidencePercent(), FormatRate(a.Lower))
		a.Level--
	}
	if a.Level == Warning && sends < c.MinSendsWarning() {
		if prev >= Warning {
			a.Held = true
		} else {
			a.Note = fmt.Sprintf("the rate %s reaches the warning %s threshold, but %d sends are fewer than the %d needed to announce it",
				FormatRate(a.Rate), th.Warning, sends, c.MinSendsWarning())
			a.Level = OK
		}
	}
	return a
}

// FormatRate formats a fraction as a percentage with two decimals
// ("4.97%"), or three below 1% ("0.085%") so complaint rates stay legible.
func FormatRate(f float64) string {
	return strconv.FormatFloat(100*f, 'f', rateDigits(f), 64) + "%"
}

// rateDigits is FormatRate's number of decimals for f.
func rateDigits(f float64) int {
	if f < 0.01 && f > 0 {
		return 3
	}
	return 2
}

// FormatRateBelow is FormatRate for a rate said to be below threshold t:
// where rounding would reach t (0.0498% as "0.050%" next to "< 0.05%") it
// rounds down instead.
func FormatRateBelow(f float64, t PPM) string {
	digits := rateDigits(f)
	scale := math.Pow(10, float64(digits))
	shown := math.Round(100*f*scale) / scale
	if shown < t.Percent() {
		return FormatRate(f)
	}
	return strconv.FormatFloat(math.Floor(100*f*scale)/scale, 'f', digits, 64) + "%"
}
