package stack_test

import (
	"slices"
	"testing"

	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/internal/triage"
)

const miniTemplate = `
Parameters:
  Mode: {Type: String, Default: "on"}
  Name: {Type: String}
Conditions:
  On: !Equals [!Ref Mode, "on"]
  Off: !Not [!Condition On]
  Both: !And [!Condition On, !Or [!Equals [a, b], !Equals [!Ref Name, x]]]
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Extra:
    Type: AWS::SNS::Topic
    Condition: Off
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 3}
  DLQ:
    Type: AWS::SQS::Queue
  Sub:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt [Queue, Arn]
      Tags: [!If [On, kept, !Ref AWS::NoValue]]
      Name: !Sub "${Name}-sub"
`

func TestParseShortForms(t *testing.T) {
	tpl, err := stack.Parse([]byte(miniTemplate))
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.Resources["Sub"].Properties
	if id, attr, ok := stack.Target(p["Endpoint"]); !ok || id != "Queue" || attr != "Arn" {
		t.Errorf("!GetAtt [Queue, Arn] = %v", p["Endpoint"])
	}
	if id, attr, ok := stack.Target(p["TopicArn"]); !ok || id != "Topic" || attr != "" {
		t.Errorf("!Ref Topic = %v", p["TopicArn"])
	}
	if s, _ := stack.Get(p, "Name", "Fn::Sub"); s != "${Name}-sub" {
		t.Errorf("!Sub = %v", p["Name"])
	}
	q := tpl.Queues()
	if len(q) != 2 || q[1].ID != "Queue" || q[1].DeadLetterQueue != "DLQ" || q[1].MaxReceiveCount != 3 || q[1].VisibilityTimeout != 60 {
		t.Errorf("Queues() = %+v", q)
	}
	if _, err := stack.Parse([]byte("Resources:\n  X: {Properties: {}}\n")); err == nil {
		t.Error("a resource without Type parsed")
	}
}

func TestResolve(t *testing.T) {
	tpl, err := stack.Parse([]byte(miniTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Resolve(nil); err == nil {
		t.Error("Resolve without a value for Name (no Default) succeeded")
	}
	if _, err := tpl.Resolve(map[string]string{"Name": "x", "Nope": "1"}); err == nil {
		t.Error("Resolve with an unknown parameter succeeded")
	}
	for _, c := range []struct {
		mode, name       string
		extra, kept      bool
		on, off, both    bool
		wantTagsOnBranch int
	}{
		{mode: "on", name: "x", kept: true, on: true, both: true, wantTagsOnBranch: 1},
		{mode: "on", name: "y", kept: true, on: true, wantTagsOnBranch: 1},
		{mode: "off", name: "x", extra: true, off: true},
	} {
		r, err := tpl.Resolve(map[string]string{"Mode": c.mode, "Name": c.name})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Resources["Extra"]; ok != c.extra {
			t.Errorf("mode %s: Extra present = %v", c.mode, ok)
		}
		tags, _ := r.Resources["Sub"].Properties["Tags"].([]any)
		if len(tags) != c.wantTagsOnBranch {
			t.Errorf("mode %s: Tags = %v (Fn::If / AWS::NoValue)", c.mode, tags)
		}
		for name, want := range map[string]bool{"On": c.on, "Off": c.off, "Both": c.both} {
			if got, err := r.Condition(name); err != nil || got != want {
				t.Errorf("mode %s name %s: condition %s = %v, %v; want %v", c.mode, c.name, name, got, err, want)
			}
		}
	}
}

func TestFilterPolicyMatch(t *testing.T) {
	p := stack.FilterPolicy{
		"$or": []any{
			map[string]any{"eventType": []any{"Bounce", "Rendering Failure"}},
			map[string]any{"notificationType": []any{"Bounce"}},
		},
		"mail": map[string]any{"source": []any{"a@example.com", "b@example.com"}},
	}
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"eventType": "Bounce", "mail": {"source": "a@example.com"}}`, true},
		{`{"notificationType": "Bounce", "mail": {"source": "b@example.com"}}`, true},
		{`{"eventType": "Rendering Failure", "mail": {"source": ["x@example.com", "b@example.com"]}}`, true},
		{`{"eventType": "Delivery", "mail": {"source": "a@example.com"}}`, false},
		{`{"eventType": "Bounce", "mail": {"source": "c@example.com"}}`, false},
		{`{"eventType": "Bounce"}`, false},
		{`{"eventType": "bounce", "mail": {"source": "a@example.com"}}`, false}, // exact match is case-sensitive
		{`not json`, false},
	} {
		got, err := p.Match([]byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("Match(%s) = %v, %v; want %v", c.body, got, err, c.want)
		}
	}
	if ok, err := (stack.FilterPolicy{"kind": []any{"x"}}).MatchAttributes(map[string]string{"kind": "x"}); !ok || err != nil {
		t.Errorf("MatchAttributes = %v, %v", ok, err)
	}
	bad := stack.FilterPolicy{"eventType": []any{map[string]any{"prefix": "Bou"}}}
	if _, err := bad.Match([]byte(`{"eventType": "Bounce"}`)); err == nil {
		t.Error("an unsupported operator was accepted")
	}
}

// TestTopology pins the messaging wiring the local stack recreates.
func TestTopology(t *testing.T) {
	tpl := loadTemplate(t)
	subs, err := tpl.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.Topic+" -> "+s.Protocol+":"+stringOr(s.Endpoint))
	}
	want := []string{
		"AlertsTopic -> email:<value>",
		"SesEventsTopic -> sqs:BouncewatchQueue",
		"SendFailuresTopic -> sqs:TriageQueue",
		"SesEventsTopic -> sqs:TriageQueue",
	}
	if len(got) != len(want) {
		t.Fatalf("subscriptions %v, want %v", got, want)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("subscriptions %v lack %q", got, w)
		}
	}
	qs := tpl.QueueSources()
	if len(qs) != 2 || qs[0].Queue != "BouncewatchQueue" || qs[0].Function != "BouncewatchFunction" || qs[0].BatchSize != 100 ||
		qs[1].Queue != "TriageQueue" || qs[1].Function != "TriageFunction" {
		t.Errorf("QueueSources() = %+v", qs)
	}
	sch := tpl.Schedules()
	// triage's schedule must send the action triage recognises;
	// bouncewatch's sends EventBridge's own event, whose time it evaluates
	// as of.
	if len(sch) != 2 || sch[0].Function != "BouncewatchFunction" || sch[0].Input != "" ||
		sch[1].Function != "TriageFunction" || sch[1].Input != `{"action":"`+triage.ActionFlush+`"}` || sch[1].Expression != "rate(5 minutes)" {
		t.Errorf("Schedules() = %+v", sch)
	}
	if d, _ := tpl.Parameters["EvaluationSchedule"].Default.(string); d != "rate(5 minutes)" {
		t.Errorf("EvaluationSchedule default = %q", d)
	}
	if !equalJSON(sch[0].Expression, ref("EvaluationSchedule")) {
		t.Errorf("schedule expression = %v, want Ref EvaluationSchedule", sch[0].Expression)
	}
}

func stringOr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return "<value>"
}
