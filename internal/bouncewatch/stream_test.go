package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// sendRecord is one SQS record carrying an SNS-wrapped Send event.
const sendRecord = `{"messageId":"c","eventSource":"aws:sqs","body":"{\"Type\":\"Notification\",\"MessageId\":\"sns-c\",\"Message\":\"{\\\"eventType\\\":\\\"Send\\\",\\\"mail\\\":{\\\"messageId\\\":\\\"m-c\\\",\\\"source\\\":\\\"a@shop.example\\\",\\\"destination\\\":[\\\"x@y.z\\\"]},\\\"send\\\":{}}\"}"}`

// A syntax error anywhere fails the invocation before any record is
// counted: were the records before it remembered for dedup, the retry
// would count them as duplicates.
func TestSyntaxErrorCountsNothing(t *testing.T) {
	cw := newMemCloudWatch(time.Now)
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	full := readEvent(t, "bouncewatch-sqs-batch.json")
	_, err := h.Handle(context.Background(), full[:len(full)-20])
	if err == nil || !strings.Contains(err.Error(), "decode invocation") {
		t.Fatalf("truncated batch: err = %v", err)
	}
	if len(cw.puts) != 0 {
		t.Fatalf("truncated batch published %d times", len(cw.puts))
	}
	if _, err := h.Handle(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	if got := cw.datums()["Sends/account/us-east-1"]; got != 1 {
		t.Fatalf("retried batch: Sends = %v, want 1 (records of the failed invocation were remembered)", got)
	}
}

// A record of the wrong shape is poison like an undecodable body: logged,
// counted, acknowledged, and the records around it are counted.
func TestWrongShapeRecordIsPoison(t *testing.T) {
	cw := newMemCloudWatch(time.Now)
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	ev := `{"Records":[1, {"messageId":"b","eventSource":"aws:sqs","body":5}, ` + sendRecord + `, {"messageId":"d","Sns":"x"}]}`
	out, err := h.Handle(context.Background(), json.RawMessage(ev))
	if err != nil {
		t.Fatal(err)
	}
	if resp, ok := out.(events.SQSEventResponse); !ok || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response = %#v, want an empty SQSEventResponse", out)
	}
	got := cw.datums()
	if got["PoisonRecords/bouncewatch"] != 3 || got["Sends/account/us-east-1"] != 1 || len(cw.puts) != 1 {
		t.Fatalf("%d calls, datums %v; want 3 poison and 1 send in one call", len(cw.puts), got)
	}
}

// Keys may come in any order and any case (as encoding/json matches
// struct fields); records win over schedule markers, as before.
func TestInvocationKeys(t *testing.T) {
	ctx := context.Background()
	cw := newMemCloudWatch(time.Now)
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet})
	ev := `{"source":"aws.events","detail":{"a":[1,2]},"records":[` + sendRecord + `],"time":"2026-01-05T10:00:00Z"}`
	if out, err := h.Handle(ctx, json.RawMessage(ev)); err != nil {
		t.Fatal(err)
	} else if _, ok := out.(events.SQSEventResponse); !ok {
		t.Fatalf("records with a source: got %T, want an SQS response", out)
	}
	if cw.gets != 0 || cw.datums()["Sends/account/us-east-1"] != 1 {
		t.Fatalf("records with a source: %d GetMetricData calls, datums %v", cw.gets, cw.datums())
	}
	if _, err := h.Handle(ctx, json.RawMessage(`{"Records":null,"Detail-Type":"Scheduled Event"}`)); err != nil || cw.gets != 1 {
		t.Fatalf("null records, scheduled: err = %v, %d GetMetricData calls", err, cw.gets)
	}
	if _, err := h.Handle(ctx, json.RawMessage(`{"Records":[]}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("empty records: err = %v", err)
	}
	if _, err := h.Handle(ctx, json.RawMessage(`null`)); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("null: err = %v", err)
	}
	for _, ev := range []string{`{"Records":{}}`, `{"Records":"x"}`, `{"source":5}`, `"x"`, `[1,2]`} {
		if _, err := h.Handle(ctx, json.RawMessage(ev)); err == nil || errors.Is(err, ErrUnknownEvent) || !strings.Contains(err.Error(), "decode invocation") {
			t.Errorf("%s: err = %v, want a decode error", ev, err)
		}
	}
	if len(cw.puts) != 2 { // the batch above and the evaluation
		t.Fatalf("%d PutMetricData calls, want 2", len(cw.puts))
	}
}
