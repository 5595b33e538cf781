// Package scenario is what `sesguard local` replays: SES events and
// application send failures with their simulated times, the account facts
// the local SES answers with, and what the pipeline is expected to do with
// them. Default generates the story the demo tells from a seed; ReadJSONLines
// reads a user's own events.
package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Topics an event can be published to: logical IDs in template.yaml.
const (
	TopicSESEvents    = "SesEventsTopic"
	TopicSendFailures = "SendFailuresTopic"
)

// Event is one SNS message, published as SES (or the sending application)
// would publish it.
type Event struct {
	// Time is the simulated time the event happens.
	Time time.Time `json:"time"`
	// Topic is the logical ID of the topic in template.yaml.
	Topic string `json:"topic"`
	// Message is the SNS message: a JSON object is published as its JSON
	// text, a JSON string as the string itself (plain error text).
	Message json.RawMessage `json:"message"`
	// Note labels the part of the story the event belongs to.
	Note string `json:"note,omitempty"`
}

// Body returns the SNS message text.
func (e Event) Body() string {
	var s string
	if len(e.Message) > 0 && e.Message[0] == '"' && json.Unmarshal(e.Message, &s) == nil {
		return s
	}
	return string(e.Message)
}

// Scenario is a replayable day (or any span) of events.
type Scenario struct {
	Name string
	// Seed generated the scenario (0 for a user's file).
	Seed int64
	// Start and End bound the simulated clock.
	Start, End time.Time
	// EvaluateEvery is the simulated period of bouncewatch's schedule.
	EvaluateEvery time.Duration
	// Region is the sending Region (the functions' own).
	Region string
	// Facts is what the local SES answers about the account; nil leaves
	// every fact unknown (GetAccount and GetEmailIdentity unsupported).
	Facts *ruleset.Facts
	// WatchDomains are sending domains bouncewatch evaluates besides the
	// account and the configuration set.
	WatchDomains []string
	// ConfigurationSets are the configuration sets the events are sent
	// through, which bouncewatch watches (and the local SES knows).
	ConfigurationSets []string
	Events            []Event
	// Expect is what the pipeline must do; nil means only "nothing lost,
	// no function errors".
	Expect *Expect
}

// Expect lists what a correct pipeline does with a scenario.
type Expect struct {
	// Alerts must fire in this order (other alerts may come in between;
	// only the first alert of each expectation's key is matched).
	Alerts []AlertExpect
	// MinDiagnoses is the least number of diagnoses per rule.
	MinDiagnoses map[string]int
	// Suppressions is the number of distinct addresses suppressed.
	Suppressions int
	// StormRule names the rule whose storm must be announced as few alerts
	// whose counts add up to StormSize.
	StormRule string
	StormSize int
}

// AlertExpect matches an alert by kind, level, rule and scope (empty
// fields match anything).
type AlertExpect struct {
	Kind  string `json:"kind"`
	Level string `json:"level"`
	Rule  string `json:"rule,omitempty"`
	Scope string `json:"scope,omitempty"`
}

func (a AlertExpect) String() string {
	s := a.Kind + "/" + a.Level
	if a.Rule != "" {
		s += " " + a.Rule
	}
	if a.Scope != "" {
		s += " @" + a.Scope
	}
	return s
}

// Suppressible returns the recipients an SES event says should be
// suppressed: those of a permanent bounce or a complaint (none for any
// other event or a message that is not SES's).
func Suppressible(e Event) []string {
	var m struct {
		EventType        string `json:"eventType"`
		NotificationType string `json:"notificationType"`
		Bounce           *struct {
			BounceType        string `json:"bounceType"`
			BouncedRecipients []struct {
				EmailAddress string `json:"emailAddress"`
			} `json:"bouncedRecipients"`
		} `json:"bounce"`
		Complaint *struct {
			ComplainedRecipients []struct {
				EmailAddress string `json:"emailAddress"`
			} `json:"complainedRecipients"`
		} `json:"complaint"`
	}
	if e.Topic != TopicSESEvents || json.Unmarshal(e.Message, &m) != nil {
		return nil
	}
	var out []string
	switch {
	case m.Bounce != nil && m.Bounce.BounceType == "Permanent":
		for _, r := range m.Bounce.BouncedRecipients {
			out = append(out, r.EmailAddress)
		}
	case m.Complaint != nil:
		for _, r := range m.Complaint.ComplainedRecipients {
			out = append(out, r.EmailAddress)
		}
	}
	return out
}

// Sort orders events by time, keeping the order of equal times.
func (s *Scenario) Sort() {
	sort.SliceStable(s.Events, func(i, j int) bool { return s.Events[i].Time.Before(s.Events[j].Time) })
}

// ReadJSONLines reads a user's scenario: one JSON object per line, either
// an Event ({"time", "topic", "message"}) or a bare message, which goes to
// the SES events topic when it has eventType/notificationType and to the
// send-failures topic otherwise, or a JSON string, plain error text for the
// send-failures topic. A bare SES event takes its time from
// mail.timestamp; events without a time follow the previous one by a
// second. Blank lines are skipped; errors name the line.
func ReadJSONLines(r io.Reader, name string) (*Scenario, error) {
	sc := &Scenario{Name: name, EvaluateEvery: time.Hour, Region: "us-east-1"}
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 64*1024), ruleset.MaxInputBytes)
	var last time.Time
	for n := 1; in.Scan(); n++ {
		line := bytes.TrimSpace(in.Bytes())
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case '{':
		case '"': // plain error text, as an application might publish it
			if !json.Valid(line) {
				return nil, fmt.Errorf("%s line %d: not a valid JSON string", name, n)
			}
			if last.IsZero() {
				last = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			}
			last = last.Add(time.Second)
			sc.Events = append(sc.Events, Event{Time: last, Topic: TopicSendFailures, Message: append(json.RawMessage(nil), line...)})
			continue
		default:
			return nil, fmt.Errorf("%s line %d: want a JSON object (an event or a message) or a JSON string (error text)", name, n)
		}
		var probe struct {
			Time             *time.Time      `json:"time"`
			Topic            string          `json:"topic"`
			Message          json.RawMessage `json:"message"`
			Note             string          `json:"note"`
			EventType        string          `json:"eventType"`
			NotificationType string          `json:"notificationType"`
			Mail             *struct {
				Timestamp string `json:"timestamp"`
			} `json:"mail"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		e := Event{Topic: probe.Topic, Message: probe.Message, Note: probe.Note}
		if probe.Message == nil {
			e.Message = append(json.RawMessage(nil), line...)
			e.Topic = TopicSendFailures
			if probe.EventType != "" || probe.NotificationType != "" {
				e.Topic = TopicSESEvents
			}
		}
		switch e.Topic {
		case TopicSESEvents, TopicSendFailures:
		case "":
			e.Topic = TopicSESEvents
		default:
			return nil, fmt.Errorf("%s line %d: topic %q: want %s or %s", name, n, e.Topic, TopicSESEvents, TopicSendFailures)
		}
		switch {
		case probe.Time != nil:
			e.Time = *probe.Time
		case probe.Mail != nil && probe.Mail.Timestamp != "":
			if t, err := time.Parse(time.RFC3339Nano, probe.Mail.Timestamp); err == nil {
				e.Time = t
			}
		}
		if e.Time.IsZero() {
			if last.IsZero() {
				last = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			}
			e.Time = last.Add(time.Second)
		}
		last = e.Time
		sc.Events = append(sc.Events, e)
	}
	if err := in.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(sc.Events) == 0 {
		return nil, fmt.Errorf("%s: no events", name)
	}
	sc.Sort()
	sc.Start = sc.Events[0].Time.Truncate(time.Hour)
	sc.End = sc.Events[len(sc.Events)-1].Time.Truncate(time.Hour).Add(time.Hour)
	if span := sc.End.Sub(sc.Start); span > MaxSpan {
		// bouncewatch evaluates at every simulated hour: a span of years
		// would be hundreds of thousands of invocations.
		return nil, fmt.Errorf("%s: the events span %d days (%s to %s); at most %d days are replayed: check the times of the first and last events",
			name, int(span.Hours()/24), sc.Events[0].Time.Format(time.RFC3339), sc.Events[len(sc.Events)-1].Time.Format(time.RFC3339), int(MaxSpan.Hours()/24))
	}
	return sc, nil
}

// MaxSpan bounds the simulated time a user's scenario may cover.
const MaxSpan = 31 * 24 * time.Hour

// WriteJSONLines writes s's events in the form ReadJSONLines reads.
func WriteJSONLines(w io.Writer, s *Scenario) error {
	enc := json.NewEncoder(w)
	for _, e := range s.Events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}
