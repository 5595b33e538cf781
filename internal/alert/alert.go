// Package alert carries sesguard's alerts from the two Lambdas (triage and
// bouncewatch) to the people who act on them.
//
// An Alert is one value with two renderings: its JSON is the SNS message body
// (machine-readable: kind, level, rule, figures, fix) and Slack gets the same
// content as Block Kit (SlackMessage) with RenderText as its plain-text twin.
// Sinks deliver an Alert: SNSSink publishes to a topic, SlackSink posts to an
// incoming webhook, Fanout sends to several sinks, and Aggregator collapses a
// storm of identical alerts into one alert with a count. The Aggregator's
// windows live behind WindowStore: MemoryWindows keeps them in one
// execution environment; a shared store (package internal/state, DynamoDB,
// coming) will make one environment announce each storm.
//
// The Slack webhook URL is a secret: LoadWebhookURL reads it from Secrets
// Manager, and no error or log line produced by this
// package contains it.
package alert

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what produced an alert.
type Kind string

// Kinds of alert.
const (
	KindDiagnosis  Kind = "diagnosis"  // triage classified a send failure
	KindRate       Kind = "rate"       // bouncewatch saw a bounce/complaint rate level change
	KindDivergence Kind = "divergence" // our rate and SES's own figure disagree
	// KindEnforcement: SES's own enforcement changed (account status,
	// account or configuration-set sending).
	KindEnforcement Kind = "enforcement"
	// KindPause: bouncewatch paused (or would pause) a configuration set.
	KindPause Kind = "pause"
)

// AllKinds lists every Kind.
var AllKinds = []Kind{KindDiagnosis, KindRate, KindDivergence, KindEnforcement, KindPause}

// Level is how urgent an alert is. LevelOK announces a recovery.
type Level string

// Levels, from calm to urgent.
const (
	LevelOK        Level = "ok"
	LevelInfo      Level = "info"
	LevelWarning   Level = "warning"
	LevelCritical  Level = "critical"
	LevelPauseRisk Level = "pause-risk"
)

// AllLevels lists every Level, from calm to urgent.
var AllLevels = []Level{LevelOK, LevelInfo, LevelWarning, LevelCritical, LevelPauseRisk}

// Valid reports whether l is one of AllLevels.
func (l Level) Valid() bool {
	for _, v := range AllLevels {
		if l == v {
			return true
		}
	}
	return false
}

// Figure is one named number shown with an alert (a rate, the sample size,
// the bound, the headroom, SES's own figure). Value is the display text
// renderers show verbatim; Number, when set, is the same quantity for
// machines.
type Figure struct {
	Name   string   `json:"name"`
	Value  string   `json:"value"`
	Number *float64 `json:"number,omitempty"`
}

// Num returns a Figure carrying both the number n and its display text. A
// NaN or infinite n gets no Number: JSON cannot encode it, and one such
// figure would make the whole alert unpublishable.
func Num(name string, n float64, display string) Figure {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return Figure{Name: name, Value: display}
	}
	return Figure{Name: name, Value: display, Number: &n}
}

// Alert is one announcement. Its JSON encoding is the SNS message body.
type Alert struct {
	Kind  Kind  `json:"kind"`
	Level Level `json:"level"`
	// Title is a human one-liner; Subject derives the SNS Subject from it.
	Title    string `json:"title"`
	Rule     string `json:"rule,omitempty"` // taxonomy rule ID, or the rate name for KindRate
	Identity string `json:"identity,omitempty"`
	Region   string `json:"region,omitempty"`
	Scope    string `json:"scope,omitempty"` // e.g. "account", "configuration-set:transactional"
	// Count is how many occurrences this alert stands for (1 = a single one;
	// an Aggregator raises it). Since is the earliest of them when Count > 1.
	Count    int       `json:"count"`
	Since    time.Time `json:"since,omitzero"`
	Summary  string    `json:"summary,omitempty"`
	Evidence []string  `json:"evidence,omitempty"`
	Fix      []string  `json:"fix,omitempty"`
	Figures  []Figure  `json:"figures,omitempty"`
	Time     time.Time `json:"time,omitzero"`
	Source   string    `json:"source,omitempty"` // function name, e.g. "sesguard-triage"
}

// Sink delivers alerts.
type Sink interface {
	Send(ctx context.Context, a Alert) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, a Alert) error

// Send calls f.
func (f SinkFunc) Send(ctx context.Context, a Alert) error { return f(ctx, a) }

// Key identifies "the same alert" for aggregation: kind, rule, identity and
// Region.
func (a Alert) Key() string {
	return string(a.Kind) + "\x00" + a.Rule + "\x00" + a.Identity + "\x00" + a.Region
}

// count returns Count, treating an unset Count as one occurrence.
func (a Alert) count() int {
	if a.Count < 1 {
		return 1
	}
	return a.Count
}

// MaxSubjectLen is the longest SNS Subject SubjectText returns; SNS requires
// "less than 100 characters".
const MaxSubjectLen = 99

// Subject is the SNS Subject for a: "[critical] title", or
// "[critical x37] title" for an aggregated alert, made safe by SubjectText.
func (a Alert) Subject() string {
	tag := string(a.Level)
	if tag == "" {
		tag = "alert"
	}
	if n := a.count(); n > 1 {
		tag += " x" + strconv.Itoa(n)
	}
	return SubjectText("[" + tag + "] " + a.Title)
}

// asciiFold maps common typographic runes to ASCII so subjects stay readable.
var asciiFold = map[rune]string{
	'‘': "'", '’': "'", '‚': "'", '“': `"`, '”': `"`, '„': `"`,
	'–': "-", '—': "-", '‐': "-", '−': "-", '…': "...", '•': "*",
	'×': "x", '≥': ">=", '≤': "<=", '→': "->", '\u00a0': " ",
}

// SubjectText makes s acceptable as an SNS Subject: ASCII only (common
// typographic runes folded, others become '?'), no line breaks or control
// characters (each run of whitespace becomes one space), starting with a
// letter, digit or punctuation, and at most MaxSubjectLen bytes (truncated
// with "..."). An empty result becomes "sesguard alert".
func SubjectText(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		var piece string
		switch {
		case r == utf8.RuneError:
			piece = "?"
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u2028' || r == '\u2029':
			space = true
			continue
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			continue // other control characters are dropped
		case r < 0x80:
			piece = string(r)
		default:
			if f, ok := asciiFold[r]; ok {
				piece = f
			} else {
				piece = "?"
			}
		}
		if piece == " " {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(piece)
	}
	out := b.String()
	if out == "" {
		return "sesguard alert"
	}
	if len(out) > MaxSubjectLen {
		out = strings.TrimRight(out[:MaxSubjectLen-3], " ") + "..."
	}
	return out
}
