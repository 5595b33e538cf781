package ruleset_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// linearShapes are the worst input shapes known for the text path: each
// repeats a piece that starts some scan (a Region marker, an address list,
// status codes, brackets, folded lines, JSON escapes) so that any per-match
// rescan of the rest of the input would show as quadratic time.
var linearShapes = []struct{ name, head, unit string }{
	{"region-marker", "", "region us-east-"},
	{"in-region", "", "in region US-EAST-"},
	{"identity-list", "Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: ", "\"Name\" <a@example.com>, "},
	{"angle-brackets", "554 ", "<a@b "},
	{"status-codes", "", "550 5.1.1 "},
	{"folded-lines", "Message rejected: Email address is not verified.", "\r\n\t x@example.com,"},
	{"json-escapes", `{"level":"error","msg":"`, `\n\u003cbob@example.org\u003e \"`},
	{"dsn-lines", "", "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected\n"},
	{"exception-wrappers", "", "Caused by: javax.mail.SendFailedException: Invalid Addresses; "},
	{"letters", "email.", "a"},
}

func buildShape(head, unit string, size int) []byte {
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	for b.Len()+len(unit) <= size {
		b.WriteString(unit)
	}
	return []byte(b.String())
}

// BenchmarkLinearTime classifies each worst shape at 128 KiB and at 1 MiB
// (the input limit) in the same loop and reports the ratio of their
// fastest times: linear work gives about 8 (the size ratio), quadratic about 64.
// It fails above 10.
func BenchmarkLinearTime(b *testing.B) {
	set := ruleset.Default()
	for _, sh := range linearShapes {
		b.Run(sh.name, func(b *testing.B) {
			small := buildShape(sh.head, sh.unit, 128<<10)
			big := buildShape(sh.head, sh.unit, ruleset.MaxInputBytes)
			// The fastest of several runs: the machine is shared, and a
			// run slowed by a neighbour says nothing about the algorithm.
			tSmall, tBig := time.Duration(1<<62), time.Duration(1<<62)
			for b.Loop() {
				// Collect the previous run's garbage outside the timed
				// part: a collection landing in one run and not the
				// other is noise, not growth.
				runtime.GC()
				t0 := time.Now()
				// Eight small inputs back to back take as long as one big
				// one if the work is linear: equal stretches of time, so a
				// busy neighbour slows both alike.
				for range 8 {
					if len(set.ClassifyBytes(small, nil, "small")) == 0 {
						b.Fatal("no diagnosis")
					}
				}
				tSmall = min(tSmall, time.Since(t0)/8)
				runtime.GC()
				t1 := time.Now()
				if len(set.ClassifyBytes(big, nil, "big")) == 0 {
					b.Fatal("no diagnosis")
				}
				tBig = min(tBig, time.Since(t1))
			}
			ratio := float64(tBig) / float64(tSmall)
			b.ReportMetric(ratio, "1MiB/128KiB")
			if ratio > 10 {
				b.Errorf("%s: 1 MiB took %.1f× the time of 128 KiB (want ≤ 10×: linear is 8×)", sh.name, ratio)
			}
		})
	}
}
