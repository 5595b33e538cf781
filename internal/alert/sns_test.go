package alert

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/sesguard/sesguard/internal/testkit"
)

// TestSNSSinkKumo publishes through a real SNS client to kumo and reads the
// notification back from an SQS queue subscribed to the topic.
func TestSNSSinkKumo(t *testing.T) {
	ctx := context.Background()
	cfg := kumoConfig(t)
	snsc := sns.NewFromConfig(cfg)
	tap := testkit.NewTap(t, cfg, "sesguard-alerts")

	sink, err := NewSNSSink(snsc, tap.TopicARN)
	if err != nil {
		t.Fatal(err)
	}
	a := diagnosisAlert()
	a.Title = "Sender not verified\nin us-east-1 — " + strings.Repeat("long ", 40)
	if err := sink.Send(ctx, a); err != nil {
		t.Fatal(err)
	}

	bodies := tap.Drain(t)
	if len(bodies) != 1 {
		t.Fatalf("%d messages on the queue, want 1", len(bodies))
	}
	var env struct {
		Type, Subject, Message string
		MessageAttributes      map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(bodies[0]), &env); err != nil {
		t.Fatalf("SNS envelope: %v", err)
	}
	if env.Type != "Notification" {
		t.Errorf("Type = %q", env.Type)
	}
	if !strings.HasPrefix(env.Subject, "[critical x37] Sender not verified in us-east-1 - long long") || len(env.Subject) > MaxSubjectLen {
		t.Errorf("Subject = %q (%d bytes)", env.Subject, len(env.Subject))
	}
	var got Alert
	if err := json.Unmarshal([]byte(env.Message), &got); err != nil {
		t.Fatalf("message body is not an Alert: %v\n%s", err, env.Message)
	}
	if got.Kind != KindDiagnosis || got.Level != LevelCritical || got.Rule != "reject.region-mismatch" || got.Count != 37 ||
		!got.Since.Equal(a.Since) || len(got.Fix) != 2 || got.Fix[1] != a.Fix[1] || got.Title != a.Title {
		t.Errorf("body round trip:\n got %+v\nwant %+v", got, a)
	}
	for k, want := range map[string]string{"kind": "diagnosis", "level": "critical", "rule": "reject.region-mismatch"} {
		if v := env.MessageAttributes[k]; v.Type != "String" || v.Value != want {
			t.Errorf("attribute %s = %+v, want String %q", k, v, want)
		}
	}
}

type publishFunc func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)

func (f publishFunc) Publish(ctx context.Context, in *sns.PublishInput, o ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f(ctx, in, o...)
}

func TestSNSSinkBody(t *testing.T) {
	var in *sns.PublishInput
	sink, _ := NewSNSSink(publishFunc(func(_ context.Context, p *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
		in = p
		return &sns.PublishOutput{}, nil
	}), "arn:aws:sns:us-east-1:123456789012:alerts")
	a := rateAlert()
	a.Count = 0 // unset means one occurrence
	if err := sink.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(*in.Message), &body); err != nil {
		t.Fatal(err)
	}
	if body["count"] != 1.0 {
		t.Errorf("count = %v, want 1", body["count"])
	}
	if _, ok := body["since"]; ok {
		t.Error("zero since encoded")
	}
	figs := body["figures"].([]any)
	if f := figs[0].(map[string]any); f["name"] != "rate" || f["value"] != "2.60%" || f["number"] != 0.026 {
		t.Errorf("first figure = %v", f)
	}
	if f := figs[4].(map[string]any); f["number"] != nil {
		t.Errorf("text-only figure has number %v", f["number"])
	}
	if _, ok := in.MessageAttributes["rule"]; !ok {
		t.Error("no rule attribute")
	}
	a.Rule = ""
	_ = sink.Send(context.Background(), a)
	if _, ok := in.MessageAttributes["rule"]; ok {
		t.Error("empty rule attribute sent (SNS rejects empty values)")
	}
}

func TestSNSSinkError(t *testing.T) {
	sink, _ := NewSNSSink(publishFunc(func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
		return nil, errors.New("AuthorizationError")
	}), "arn:aws:sns:us-east-1:123456789012:alerts")
	err := sink.Send(context.Background(), diagnosisAlert())
	if err == nil || !strings.Contains(err.Error(), "arn:aws:sns:us-east-1:123456789012:alerts") || !strings.Contains(err.Error(), "reject.region-mismatch") {
		t.Errorf("error = %v", err)
	}
	if _, err := NewSNSSink(nil, "x"); err == nil {
		t.Error("nil publisher accepted")
	}
	if _, err := NewSNSSink(sink.pub, ""); err == nil {
		t.Error("empty topic accepted")
	}
}
