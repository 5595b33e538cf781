package bouncewatch

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// timedBatch is an SQS batch of SES events whose bodies are given.
func timedBatch(bodies ...string) json.RawMessage {
	var recs []events.SQSMessage
	for i, b := range bodies {
		env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": fmt.Sprintf("sns-t%d", i), "Message": b})
		recs = append(recs, events.SQSMessage{MessageId: fmt.Sprintf("sqs-t%d", i), EventSource: "aws:sqs", Body: string(env)})
	}
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

func sendAt(i int, mailTS string) string {
	return fmt.Sprintf(`{"eventType":"Send","mail":{"timestamp":%q,"messageId":"m-%d","source":"a@example.com","destination":["u%d@example.net"]},"send":{}}`, mailTS, i, i)
}

func bounceAt(i int, mailTS, bounceTS string) string {
	return fmt.Sprintf(`{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General","timestamp":%q,"bouncedRecipients":[{"emailAddress":"u%d@example.net"}]},`+
		`"mail":{"timestamp":%q,"messageId":"m-%d","source":"a@example.com","destination":["u%d@example.net"]}}`, bounceTS, i, mailTS, i, i)
}

// TestCountsCarryEventTimes: a batch's counts are stamped with the events'
// own times to the minute (a bounce's own timestamp, not its mail's), one
// datum per counter, scope and minute, in one PutMetricData call; an
// event CloudWatch would refuse (three weeks old, a day ahead) or without
// a readable time is stamped with the receive time instead, and counted.
func TestCountsCarryEventTimes(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	cw := newMemCloudWatch(func() time.Time { return now })
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet, Now: func() time.Time { return now }})
	batch := timedBatch(
		sendAt(1, "2026-03-02T14:30:05.000Z"),
		sendAt(2, "2026-03-02T14:30:59.999Z"),
		sendAt(3, "2026-03-02T14:31:00.000Z"),
		bounceAt(1, "2026-03-02T14:30:05.000Z", "2026-03-02T14:52:10.000Z"),
		sendAt(4, "2026-02-09T14:30:00.000Z"), // three weeks old: refused by CloudWatch
		sendAt(5, "2026-03-03T15:00:00.000Z"), // a day ahead
		sendAt(6, "yesterday"),
		sendAt(7, "2026-03-02T14:31:30 +0000"), // the odd form of one SES sample
	)
	if _, err := h.Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if len(cw.puts) != 1 {
		t.Fatalf("%d PutMetricData calls, want 1", len(cw.puts))
	}
	got := map[string]float64{}
	for _, d := range cw.puts[0].MetricData {
		if d.Timestamp == nil {
			t.Fatalf("datum %s has no timestamp", aws.ToString(d.MetricName))
		}
		if aws.ToString(d.Dimensions[0].Value) != "account" {
			continue
		}
		got[aws.ToString(d.MetricName)+" "+d.Timestamp.Format("15:04:05")] += aws.ToFloat64(d.Value)
	}
	want := map[string]float64{"Sends 14:30:00": 2, "Sends 14:31:00": 2, "HardBounces 14:52:00": 1, "Sends 15:00:00": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("account datums by minute = %v, want %v", got, want)
	}
}

func TestEventTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    ruleset.SESEvent
		want string // "" when none
	}{
		{"send: the mail's", ruleset.SESEvent{EventType: "Send", Mail: &ruleset.SESMail{Timestamp: "2026-03-02T14:30:00.5Z"}}, "2026-03-02T14:30:00.5Z"},
		{"bounce: its own", ruleset.SESEvent{EventType: "Bounce", Mail: &ruleset.SESMail{Timestamp: "2026-03-02T14:30:00Z"},
			Bounce: &ruleset.SESBounce{Timestamp: "2026-03-02T15:10:00Z"}}, "2026-03-02T15:10:00Z"},
		{"complaint: its own", ruleset.SESEvent{EventType: "Complaint", Mail: &ruleset.SESMail{Timestamp: "2026-03-02T14:30:00Z"},
			Complaint: &ruleset.SESComplaint{Timestamp: "2026-03-03T09:00:00Z"}}, "2026-03-03T09:00:00Z"},
		{"delivery: its own", ruleset.SESEvent{EventType: "Delivery", Mail: &ruleset.SESMail{Timestamp: "2026-03-02T14:30:00Z"},
			Delivery: &ruleset.SESDelivery{Timestamp: "2026-03-02T14:30:02Z"}}, "2026-03-02T14:30:02Z"},
		{"bounce without its own: the mail's", ruleset.SESEvent{EventType: "Bounce", Mail: &ruleset.SESMail{Timestamp: "2026-03-02T14:30:00Z"},
			Bounce: &ruleset.SESBounce{Timestamp: "soon"}}, "2026-03-02T14:30:00Z"},
		{"SES's odd form", ruleset.SESEvent{EventType: "Send", Mail: &ruleset.SESMail{Timestamp: "2018-10-08T14:05:45 +0000"}}, "2018-10-08T14:05:45Z"},
		{"no mail", ruleset.SESEvent{EventType: "Reject"}, ""},
		{"unreadable", ruleset.SESEvent{EventType: "Send", Mail: &ruleset.SESMail{Timestamp: "1 March"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := eventTime(&tc.e)
			if tc.want == "" {
				if ok {
					t.Errorf("eventTime = %s, want none", got)
				}
				return
			}
			want, _ := time.Parse(time.RFC3339, tc.want)
			if !ok || !got.Equal(want) {
				t.Errorf("eventTime = %s, %v; want %s", got, ok, want)
			}
		})
	}
}

// TestScheduledEvaluationTime: a scheduled event evaluates as of its
// "time" (the window read ends there, the datums written carry it); one
// without a time, with an unreadable one, or with one further from now
// than CloudWatch accepts evaluates as of now.
func TestScheduledEvaluationTime(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 7, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Time
	}{
		{"scheduled", `{"source":"aws.events","detail-type":"Scheduled Event","time":"2026-03-02T14:30:00Z","detail":{}}`, now.Add(-30*time.Minute - 7*time.Second)},
		{"action", `{"action":"evaluate"}`, now},
		{"unreadable", `{"source":"aws.events","time":"half past two"}`, now},
		{"a sample from January", `{"source":"aws.events","time":"2026-01-05T10:05:00Z"}`, now},
		{"a day ahead", `{"source":"aws.events","time":"2026-03-03T15:00:00Z"}`, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cw := newMemCloudWatch(func() time.Time { return now })
			h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet, Now: func() time.Time { return now }})
			out, err := h.Handle(context.Background(), json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			rep := out.(*Report)
			if !rep.Time.Equal(tc.want) {
				t.Errorf("evaluated as of %s, want %s", rep.Time, tc.want)
			}
			if len(cw.puts) != 1 {
				t.Fatalf("%d PutMetricData calls", len(cw.puts))
			}
			for _, d := range cw.puts[0].MetricData {
				if d.Timestamp == nil || !d.Timestamp.Equal(tc.want) {
					t.Errorf("datum %s stamped %v, want %s", aws.ToString(d.MetricName), d.Timestamp, tc.want)
				}
			}
		})
	}
}

// TestLateScheduledEventEvaluatesAsOfNow: a scheduled event older than
// one already evaluated (a late async retry), in this environment or
// another sharing the records, evaluates as of now, not its old window.
func TestLateScheduledEventEvaluatesAsOfNow(t *testing.T) {
	now := time.Date(2026, 3, 2, 15, 0, 7, 0, time.UTC)
	records := NewMemoryRecords() // shared by the two environments
	evaluate := func(in string) time.Time {
		t.Helper()
		cw := newMemCloudWatch(func() time.Time { return now })
		h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet, Now: func() time.Time { return now }, Records: records})
		out, err := h.Handle(context.Background(), json.RawMessage(in))
		if err != nil {
			t.Fatal(err)
		}
		return out.(*Report).Time
	}
	newer := `{"source":"aws.events","time":"2026-03-02T14:55:00Z"}`
	older := `{"source":"aws.events","time":"2026-03-02T14:50:00Z"}`
	if got := evaluate(newer); !got.Equal(time.Date(2026, 3, 2, 14, 55, 0, 0, time.UTC)) {
		t.Fatalf("first evaluation as of %s, want its scheduled time", got)
	}
	if got := evaluate(older); !got.Equal(now) {
		t.Errorf("late event evaluated as of %s, want now (%s)", got, now)
	}
	if got := evaluate(newer); !got.Equal(time.Date(2026, 3, 2, 14, 55, 0, 0, time.UTC)) {
		t.Errorf("a retry of the newest event evaluated as of %s, want its scheduled time", got)
	}
}
