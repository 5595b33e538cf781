package localstack

import (
	"encoding/json"
	"time"

	"github.com/sesguard/sesguard/internal/scenario"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// MoveToRecent moves sc by whole days so that it ends within the day
// before now (the times of day stay: the demo's 14:30 is still 14:30):
// its Start and End, every event's time, and every timestamp in the
// events' messages (mail.timestamp, bounce.timestamp, ...: any JSON
// string that reads as one), keeping each one's form. It returns the
// number of days moved; a scenario already there is left as it is.
//
// Why: bouncewatch stamps its counts with the SES events' own times and
// evaluates as of its schedule's time, and CloudWatch takes a timestamp
// from two weeks before to two hours after its clock (bouncewatch, on the
// wall clock, keeps its stamps in that range). A scenario dated months
// ago would be counted as of when its events arrive, and the simulated
// day would lose its shape. A scenario longer than two weeks keeps its
// times for its last two weeks only.
func MoveToRecent(sc *scenario.Scenario, now time.Time) int {
	days := daysToRecent(sc.End, now)
	if days == 0 {
		return 0
	}
	sc.Start = sc.Start.AddDate(0, 0, days)
	sc.End = sc.End.AddDate(0, 0, days)
	for i := range sc.Events {
		e := &sc.Events[i]
		e.Time = e.Time.AddDate(0, 0, days)
		e.Message = shiftDates(e.Message, days)
	}
	return days
}

// daysToRecent is the whole number of days that puts end in (now-24h, now].
func daysToRecent(end, now time.Time) int {
	d := now.Sub(end)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // floor, not truncation toward zero
	}
	return days
}

// shiftDates returns msg with the date of every JSON string that is a
// timestamp in a form SES uses (ruleset.ParseSESTime) moved by days. Only the date part ("2006-01-02", the first ten
// characters) is rewritten: a whole-day move in a fixed UTC offset changes
// nothing else. msg is returned as it is when nothing changed; a string
// with escapes is never a timestamp and is skipped.
func shiftDates(msg json.RawMessage, days int) json.RawMessage {
	var out json.RawMessage
	for i := 0; i < len(msg); i++ {
		if msg[i] != '"' {
			continue
		}
		j, escaped := i+1, false
		for j < len(msg) && msg[j] != '"' {
			if msg[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		if lit := msg[i+1 : min(j, len(msg))]; !escaped && len(lit) >= 20 && len(lit) <= 40 && lit[4] == '-' && lit[7] == '-' && lit[10] == 'T' {
			if t, ok := ruleset.ParseSESTime(string(lit)); ok {
				if out == nil {
					out = append(json.RawMessage(nil), msg...)
				}
				copy(out[i+1:], t.AddDate(0, 0, days).Format("2006-01-02"))
			}
		}
		i = j
	}
	if out == nil {
		return msg
	}
	return out
}
