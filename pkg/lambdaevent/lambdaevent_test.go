package lambdaevent

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestTagsMatchEvents: each Record field is read under the key
// aws-lambda-go's events types give it.
func TestTagsMatchEvents(t *testing.T) {
	tag := func(v any, field string) string {
		f, ok := reflect.TypeOf(v).FieldByName(field)
		if !ok {
			t.Fatalf("%T has no field %s", v, field)
		}
		return strings.Split(f.Tag.Get("json"), ",")[0]
	}
	for _, c := range []struct {
		ours, theirs     any
		field, theirName string
	}{
		{Record{}, events.SQSMessage{}, "EventSource", "EventSource"},
		{Record{}, events.SQSMessage{}, "MessageID", "MessageId"},
		{Record{}, events.SQSMessage{}, "Body", "Body"},
		{Record{}, events.SNSEventRecord{}, "SNS", "SNS"},
		{SNS{}, events.SNSEntity{}, "MessageID", "MessageID"},
		{SNS{}, events.SNSEntity{}, "Message", "Message"},
		{Envelope{}, events.SNSEntity{}, "Type", "Type"},
		{Envelope{}, events.SNSEntity{}, "MessageID", "MessageID"},
		{Envelope{}, events.SNSEntity{}, "Message", "Message"},
	} {
		if got, want := tag(c.ours, c.field), tag(c.theirs, c.theirName); got != want {
			t.Errorf("%T.%s reads %q; %T.%s is %q", c.ours, c.field, got, c.theirs, c.theirName, want)
		}
	}
	// SNS spells it EventSource: the same key but for case, which matches.
	if got, want := tag(Record{}, "EventSource"), tag(events.SNSEventRecord{}, "EventSource"); !strings.EqualFold(got, want) {
		t.Errorf("EventSource %q does not match SNS's %q", got, want)
	}
}

func TestScan(t *testing.T) {
	sqs, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m0", EventSource: "aws:sqs", Body: `{"a":1}`, Attributes: map[string]string{"SentTimestamp": "1"}},
		{MessageId: "m1", EventSource: "aws:sqs", Body: "plain"},
	}})
	sns, _ := json.Marshal(events.SNSEvent{Records: []events.SNSEventRecord{{EventSource: "aws:sns", SNS: events.SNSEntity{MessageID: "s0", Message: "hello"}}}})
	for _, tc := range []struct {
		name, in string
		want     []string // per record: "index source id body-or-message raw-ok err?"
		inv      Invocation
		fatal    string
	}{
		{name: "sqs", in: string(sqs), want: []string{`0 aws:sqs m0 {"a":1}`, "1 aws:sqs m1 plain"}, inv: Invocation{Records: true}},
		{name: "sns", in: string(sns), want: []string{"0 aws:sns s0 hello"}, inv: Invocation{Records: true}},
		{name: "poison record, the rest read", in: ` {"Records": [ 7 , {"messageId":"m1","body":"x"}, {"body": 5} ]}`,
			want: []string{"0 err", "1  m1 x", "2 err"}, inv: Invocation{Records: true}},
		{name: "schedule", in: `{"source":"aws.events","detail-type":"Scheduled Event","time":"2026-03-02T14:30:00Z","detail":{}}`,
			inv: Invocation{Source: "aws.events", DetailType: "Scheduled Event", Time: "2026-03-02T14:30:00Z"}},
		{name: "time not a string", in: `{"source":"aws.events","time":1772461800}`, inv: Invocation{Source: "aws.events"}},
		{name: "action", in: `{"ACTION":"evaluate"}`, inv: Invocation{Action: "evaluate"}},
		{name: "null", in: `null`},
		{name: "null records", in: `{"Records":null}`, inv: Invocation{Records: true}},
		{name: "invalid JSON", in: `{"Records":[{"body":"x"},`, fatal: "decode invocation: unexpected end of JSON input"},
		{name: "not an object", in: `"text"`, fatal: "decode invocation: want a JSON object, got a string"},
		{name: "records not an array", in: `{"Records":{}}`, inv: Invocation{Records: true}, fatal: `decode invocation: field "Records": want an array, got {`},
		{name: "source not a string", in: `{"source":1}`, fatal: `decode invocation: field "source": json: cannot unmarshal`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inv Invocation
			var got []string
			fatal := ""
			for r, err := range Scan([]byte(tc.in), &inv) {
				if r == nil {
					fatal = err.Error()
					continue
				}
				var raw any
				if json.Unmarshal(r.Raw, &raw) != nil {
					t.Errorf("record %d: Raw %q is not one JSON value", r.Index, r.Raw)
				}
				if err != nil {
					got = append(got, strings.TrimSpace(strings.Join([]string{itoa(r.Index), "err"}, " ")))
					continue
				}
				text := ""
				switch {
				case r.Body != nil:
					text = *r.Body
				case r.SNS != nil:
					text = r.SNS.Message
				}
				id := r.MessageID
				if r.SNS != nil {
					id = r.SNS.MessageID
				}
				got = append(got, itoa(r.Index)+" "+r.EventSource+" "+id+" "+text)
			}
			if !reflect.DeepEqual(got, tc.want) || !strings.HasPrefix(fatal, tc.fatal) || (tc.fatal == "") != (fatal == "") {
				t.Errorf("records %q, fatal %q; want %q, %q", got, fatal, tc.want, tc.fatal)
			}
			if inv != tc.inv {
				t.Errorf("invocation %+v, want %+v", inv, tc.inv)
			}
		})
	}
}

// TestScanStops: a consumer may stop early.
func TestScanStops(t *testing.T) {
	var inv Invocation
	n := 0
	for range Scan([]byte(`{"Records":[{},{},{}],"source":"x"}`), &inv) {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d records after break", n)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
