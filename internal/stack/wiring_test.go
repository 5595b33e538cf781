package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/stack"
)

// dlqAlarmed returns the queues an ApproximateNumberOfMessagesVisible
// alarm watches.
func dlqAlarmed(t *testing.T, tpl *stack.Template) []string {
	var out []string
	for _, refs := range alarmRefs(t, tpl) {
		for _, r := range refs {
			if r.namespace == "AWS/SQS" && r.name == "ApproximateNumberOfMessagesVisible" {
				out = append(out, strings.TrimSuffix(strings.TrimPrefix(r.dims["QueueName"], "REF:"), ".QueueName"))
			}
		}
	}
	return out
}

// TestNothingDroppedSilently: every path into a function ends in a
// dead-letter queue on failure, and every dead-letter queue has an alarm.
func TestNothingDroppedSilently(t *testing.T) {
	tpl := loadTemplate(t)
	alarmed := dlqAlarmed(t, tpl)
	queues := map[string]stack.Queue{}
	for _, q := range tpl.Queues() {
		queues[q.ID] = q
	}
	needAlarm := func(where, dlq string) {
		if _, ok := queues[dlq]; !ok {
			t.Errorf("%s: dead-letter target %q is not a queue of this stack", where, dlq)
		} else if !slices.Contains(alarmed, dlq) {
			t.Errorf("%s: no alarm watches dead-letter queue %s", where, dlq)
		}
	}

	for _, qs := range tpl.QueueSources() {
		q := queues[qs.Queue]
		if q.DeadLetterQueue == "" || q.MaxReceiveCount < 1 {
			t.Errorf("%s: queue %s has no redrive policy", qs.Name, qs.Queue)
			continue
		}
		needAlarm(qs.Name, q.DeadLetterQueue)
		if !qs.ReportBatchItemFailures {
			t.Errorf("%s: without ReportBatchItemFailures one bad record retries the whole batch", qs.Name)
		}
		if qs.BatchingWindowSeconds <= 0 {
			t.Errorf("%s: no MaximumBatchingWindowInSeconds", qs.Name)
		}
		timeout, _ := stack.Number(props(t, tpl, qs.Function)["Timeout"])
		if q.VisibilityTimeout < 6*int(timeout) {
			t.Errorf("%s: queue VisibilityTimeout %d < 6 x function timeout %v", qs.Name, q.VisibilityTimeout, timeout)
		}
	}

	subs, err := tpl.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Protocol != "lambda" {
			continue
		}
		if s.DeadLetterQueue == "" {
			t.Errorf("%s: Lambda subscription without RedrivePolicy", s.Name)
			continue
		}
		needAlarm(s.Name, s.DeadLetterQueue)
		if !queuePolicyAllows(t, tpl, s.DeadLetterQueue, s.Topic) {
			t.Errorf("%s: no queue policy lets topic %s send to %s", s.Name, s.Topic, s.DeadLetterQueue)
		}
		// SNS invokes Lambda asynchronously: failed invocations go on.
		fn := fmt.Sprint(s.Endpoint)
		d, ok := stack.Get(props(t, tpl, fn), "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")
		dlq, _, _ := stack.Target(d)
		if !ok || dlq == "" {
			t.Errorf("%s: %s has no EventInvokeConfig OnFailure destination", s.Name, fn)
		} else {
			needAlarm(fn+" OnFailure", dlq)
		}
	}

	for _, f := range tpl.Functions() {
		found := false
		for _, refs := range alarmRefs(t, tpl) {
			for _, r := range refs {
				found = found || (r.namespace == "AWS/Lambda" && r.name == "Errors" && r.dims["FunctionName"] == "REF:"+f.ID)
			}
		}
		if !found {
			t.Errorf("%s: no Errors alarm", f.ID)
		}
	}
}

func queuePolicyAllows(t *testing.T, tpl *stack.Template, queue, topic string) bool {
	for _, id := range tpl.OfType("AWS::SQS::QueuePolicy") {
		p := tpl.Resources[id].Properties
		qs, _ := p["Queues"].([]any)
		if !slices.ContainsFunc(qs, func(q any) bool { id, _, _ := stack.Target(q); return id == queue }) {
			continue
		}
		sts, _ := stack.Get(p, "PolicyDocument", "Statement")
		for _, st := range sts.([]any) {
			src, _ := stack.Get(st, "Condition", "ArnEquals", "aws:SourceArn")
			var list []any
			if l, ok := src.([]any); ok {
				list = l
			} else {
				list = []any{src}
			}
			for _, s := range list {
				if id, _, _ := stack.Target(s); id == topic {
					return true
				}
			}
		}
	}
	return false
}

func TestAlarmsNotifyAlertsTopic(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range tpl.OfType("AWS::CloudWatch::Alarm") {
		acts, _ := props(t, tpl, id)["AlarmActions"].([]any)
		if !slices.ContainsFunc(acts, func(a any) bool { return equalJSON(a, ref("AlertsTopic")) }) {
			t.Errorf("%s: AlarmActions %v do not include the AlertsTopic", id, acts)
		}
	}
}

func TestAlertDelivery(t *testing.T) {
	forEachParamSet(t, func(t *testing.T, tpl *stack.Template) {
		subs, err := tpl.Subscriptions()
		if err != nil {
			t.Fatal(err)
		}
		email := slices.ContainsFunc(subs, func(s stack.Subscription) bool { return s.Topic == "AlertsTopic" && s.Protocol == "email" })
		if want := tpl.Values["AlertEmail"] != ""; email != want {
			t.Errorf("email subscription = %v with AlertEmail %q", email, tpl.Values["AlertEmail"])
		}
		_, chatbot := tpl.Resources["SlackChannel"]
		if want := tpl.Values["SlackWorkspaceId"] != "" && tpl.Values["SlackChannelId"] != ""; chatbot != want {
			t.Errorf("Chatbot channel = %v with workspace %q channel %q", chatbot, tpl.Values["SlackWorkspaceId"], tpl.Values["SlackChannelId"])
		}
		if chatbot {
			p := props(t, tpl, "SlackChannel")
			if !equalJSON(p["SnsTopicArns"], []any{ref("AlertsTopic")}) {
				t.Errorf("Chatbot SnsTopicArns = %v", p["SnsTopicArns"])
			}
			if g, _ := p["GuardrailPolicies"].([]any); len(g) == 0 {
				t.Error("Chatbot without GuardrailPolicies gets AdministratorAccess as its guardrail")
			}
		}
		for _, f := range tpl.Functions() {
			if v := f.Env["SLACK_WEBHOOK_SECRET"]; !equalJSON(v, ref("SlackWebhookSecretArn")) && !(v == "" && tpl.Values["SlackWebhookSecretArn"] == "") {
				t.Errorf("%s: SLACK_WEBHOOK_SECRET = %v with SlackWebhookSecretArn %q", f.ID, v, tpl.Values["SlackWebhookSecretArn"])
			}
		}
	})
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	for id, want := range map[string]any{
		"SesEventsTopicArn":    ref("SesEventsTopic"),
		"SendFailuresTopicArn": ref("SendFailuresTopic"),
		"AlertsTopicArn":       ref("AlertsTopic"),
		"ConfigurationSetName": ref("ConfigurationSetName"),
	} {
		if o, ok := tpl.Outputs[id]; !ok || !equalJSON(o.Value, want) {
			t.Errorf("output %s = %v, want %v", id, tpl.Outputs[id].Value, want)
		}
	}
	url, _ := stack.Get(tpl.Outputs["DashboardURL"].Value, "Fn::Sub")
	if !strings.Contains(fmt.Sprint(url), "#dashboards:name=${Dashboard}") {
		t.Errorf("DashboardURL = %v", url)
	}
}

func TestSamconfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for _, want := range []string{
		`(?m)^version\s*=\s*0\.1`,
		`(?m)^\[default\.global\.parameters\]`,
		`(?m)^stack_name\s*=\s*"sesguard"`,
		`(?m)^\[default\.deploy\.parameters\]`,
		`(?m)^capabilities\s*=\s*"[^"]*CAPABILITY_IAM`,
		`(?m)^resolve_s3\s*=\s*true`,
	} {
		if !regexp.MustCompile(want).MatchString(cfg) {
			t.Errorf("samconfig.toml does not match %s", want)
		}
	}
	m := regexp.MustCompile(`(?m)^parameter_overrides\s*=\s*"((?:[^"\\]|\\.)*)"`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatal("samconfig.toml has no parameter_overrides example")
	}
	tpl := loadTemplate(t)
	params := map[string]string{}
	for _, kv := range regexp.MustCompile(`(\w+)=\\"((?:[^"\\])*)\\"`).FindAllStringSubmatch(m[1], -1) {
		params[kv[1]] = kv[2]
	}
	if len(params) == 0 {
		t.Fatalf("parameter_overrides %q: want Name=\\\"value\\\" pairs", m[1])
	}
	if _, err := tpl.Resolve(params); err != nil {
		t.Errorf("samconfig.toml parameter_overrides: %v", err)
	}
	for k, v := range params {
		if pat := tpl.Parameters[k].AllowedPattern; pat != "" && !regexp.MustCompile(pat).MatchString(v) {
			t.Errorf("samconfig.toml: %s=%q does not match the parameter's AllowedPattern", k, v)
		}
	}
}
