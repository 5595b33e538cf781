package stack_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// lambdaReserved are set by the Lambda runtime; a template may not set them
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
var lambdaReserved = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

func TestEnvVarsMatchCode(t *testing.T) {
	tpl := loadTemplate(t)
	for _, f := range tpl.Functions() {
		code, ok := functions[f.ID]
		if !ok {
			t.Errorf("function %s has no code-side lists in this test", f.ID)
			continue
		}
		set := sortedKeys(f.Env)
		needed := diff(code.env, lambdaReserved)
		if missing := diff(needed, set); len(missing) > 0 {
			t.Errorf("%s: the code reads %v but the template does not set them", f.ID, missing)
		}
		if unread := diff(set, code.env); len(unread) > 0 {
			t.Errorf("%s: the template sets %v but the code never reads them", f.ID, unread)
		}
		for _, v := range set {
			if slices.Contains(lambdaReserved, v) {
				t.Errorf("%s: %s is reserved by Lambda and cannot be set", f.ID, v)
			}
		}
	}
}

// statement is one IAM policy statement of a function's role.
type statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []any
	Condition map[string]any
}

func roleStatements(t *testing.T, tpl *stack.Template, role string) []statement {
	t.Helper()
	p := props(t, tpl, role)
	if arns, ok := p["ManagedPolicyArns"]; ok {
		t.Errorf("role %s: ManagedPolicyArns %v hide which actions are granted; use inline statements", role, arns)
	}
	var out []statement
	pols, _ := p["Policies"].([]any)
	for i, pol := range pols {
		sts, ok := stack.Get(pol, "PolicyDocument", "Statement")
		if !ok {
			t.Fatalf("role %s policy %d: no PolicyDocument.Statement", role, i)
		}
		for j, s := range sts.([]any) {
			m := s.(map[string]any)
			st := statement{Effect: fmt.Sprint(m["Effect"])}
			st.Sid, _ = m["Sid"].(string)
			var ok bool
			if st.Actions, ok = stack.Strings(m["Action"]); !ok {
				t.Fatalf("role %s policy %d statement %d: Action is not a string list", role, i, j)
			}
			if r, ok := m["Resource"].([]any); ok {
				st.Resources = r
			} else {
				st.Resources = []any{m["Resource"]}
			}
			st.Condition, _ = m["Condition"].(map[string]any)
			out = append(out, st)
		}
	}
	return out
}

// unscoped are actions whose service defines no resource type, so a
// statement can only name Resource "*".
var unscoped = []string{
	"ses:GetAccount",
	"ses:PutSuppressedDestination",
	"cloudwatch:PutMetricData", // scoped by the cloudwatch:namespace condition instead
	"cloudwatch:GetMetricData",
}

// platform returns the actions Lambda itself performs with the function's
// role, each with the one resource it may be granted on.
func platform(t *testing.T, tpl *stack.Template, fn string) map[string]any {
	p := props(t, tpl, fn)
	out := map[string]any{}
	lg, _ := stack.Get(p, "LoggingConfig", "LogGroup")
	if id, _, ok := stack.Target(lg); ok {
		arn := map[string]any{"Fn::GetAtt": []any{id, "Arn"}}
		out["logs:CreateLogStream"] = arn
		out["logs:PutLogEvents"] = arn
	}
	for _, qs := range tpl.QueueSources() {
		if qs.Function == fn {
			arn := map[string]any{"Fn::GetAtt": []any{qs.Queue, "Arn"}}
			for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"} {
				out[a] = arn
			}
		}
	}
	if d, ok := stack.Get(p, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"); ok {
		out["sqs:SendMessage"] = d
	}
	return out
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestIAMMatchesCode(t *testing.T) {
	forEachParamSet(t, func(t *testing.T, tpl *stack.Template) {
		for _, f := range tpl.Functions() {
			code := functions[f.ID]
			if f.Role == "" {
				t.Errorf("%s: no explicit Role; SAM's generated role adds AWS managed policies with Resource \"*\"", f.ID)
				continue
			}
			plat := platform(t, tpl, f.ID)
			var granted []string
			for _, st := range roleStatements(t, tpl, f.Role) {
				if st.Effect != "Allow" {
					continue
				}
				for _, a := range st.Actions {
					granted = append(granted, a)
					where := fmt.Sprintf("%s statement %q action %s", f.ID, st.Sid, a)
					switch {
					case strings.Contains(a, "*"):
						t.Errorf("%s: wildcard action", where)
					case plat[a] != nil:
						if len(st.Resources) != 1 || !equalJSON(st.Resources[0], plat[a]) {
							t.Errorf("%s: resource %v, want only %v", where, st.Resources, plat[a])
						}
					case !slices.Contains(code.actions, a):
						t.Errorf("%s: the code never calls it (IAMActions of %s)", where, f.ID)
					}
					if strings.HasPrefix(a, "dynamodb:") && (len(st.Resources) != 1 || !equalJSON(st.Resources[0], stateTableARN)) {
						t.Errorf("%s: resource %v, want only the state table", where, st.Resources)
					}
					for _, r := range st.Resources {
						if r == "*" && !slices.Contains(unscoped, a) {
							t.Errorf("%s: Resource \"*\" although the action can be scoped", where)
						}
					}
					if a == "cloudwatch:PutMetricData" {
						ns, _ := stack.Get(st.Condition, "StringEquals", "cloudwatch:namespace")
						if !equalJSON(ns, ref("MetricsNamespace")) {
							t.Errorf("%s: want Condition StringEquals cloudwatch:namespace = Ref MetricsNamespace, got %v", where, st.Condition)
						}
					}
				}
			}
			for _, a := range code.actions {
				service, _, _ := strings.Cut(a, ":")
				if !slices.Contains([]string{"ses", "sns", "cloudwatch", "dynamodb"}, service) {
					continue // secrets are optional; see TestSlackSecretGrant
				}
				if a == "ses:PutSuppressedDestination" && tpl.Values["SuppressMode"] == "off" {
					if slices.Contains(granted, a) {
						t.Errorf("%s: %s granted with SuppressMode=off", f.ID, a)
					}
					continue
				}
				if a == bouncewatch.PauseAction && tpl.Values["AutoPause"] != "on" {
					continue // granted only with AutoPause=on; see TestAutoPauseAgrees
				}
				if !slices.Contains(granted, a) {
					t.Errorf("%s: the code calls %s but the role does not grant it", f.ID, a)
				}
			}
		}
	})
}

var stateTableARN = map[string]any{"Fn::GetAtt": []any{"StateTable", "Arn"}}

func TestSlackSecretGrant(t *testing.T) {
	forEachParamSet(t, func(t *testing.T, tpl *stack.Template) {
		hasSecret := tpl.Values["SlackWebhookSecretArn"] != ""
		for _, f := range tpl.Functions() {
			var res []any
			for _, st := range roleStatements(t, tpl, f.Role) {
				if slices.Contains(st.Actions, "secretsmanager:GetSecretValue") {
					res = append(res, st.Resources...)
				}
			}
			switch {
			case hasSecret && (len(res) != 1 || !equalJSON(res[0], ref("SlackWebhookSecretArn"))):
				t.Errorf("%s: GetSecretValue granted on %v, want only the SlackWebhookSecretArn parameter", f.ID, res)
			case !hasSecret && len(res) > 0:
				t.Errorf("%s: GetSecretValue granted without a secret", f.ID)
			}
		}
	})
}

// TestNoWildcardAction looks at every policy document in the template,
// including resource policies and the Chatbot guardrail.
func TestNoWildcardAction(t *testing.T) {
	tpl := loadTemplate(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "Action" || k == "NotAction" {
					acts, _ := stack.Strings(e)
					for _, a := range acts {
						if strings.Contains(a, "*") {
							t.Errorf("%s: wildcard action %q", path, a)
						}
					}
					if k == "NotAction" {
						t.Errorf("%s: NotAction grants everything else", path)
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	for _, id := range sortedKeys(tpl.Resources) {
		walk(id, tpl.Resources[id].Properties)
	}
}

// sesEventTypes is every SES event type sesguard knows, whichever producer.
var sesEventTypes = []string{
	ruleset.EventBounce, ruleset.EventComplaint, ruleset.EventDelivery, ruleset.EventSend,
	ruleset.EventReject, ruleset.EventOpen, ruleset.EventClick, ruleset.EventRendering,
	ruleset.EventDeliveryDelay, ruleset.EventSubscription, ruleset.EventSNSSubscribed,
}

// sesSubscription returns the function's subscription to the topic the SES
// event destination publishes to.
func sesSubscription(t *testing.T, tpl *stack.Template, fn string) stack.Subscription {
	t.Helper()
	topic, _ := stack.Get(props(t, tpl, "SesEventDestination"), "EventDestination", "SnsDestination", "TopicARN")
	topicID, _, _ := stack.Target(topic)
	subs, err := tpl.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	// Directly, or through a queue that is one of fn's event sources.
	feeds := map[any]bool{fn: true}
	for _, qs := range tpl.QueueSources() {
		if qs.Function == fn {
			feeds[qs.Queue] = true
		}
	}
	var found []stack.Subscription
	for _, s := range subs {
		if s.Topic == topicID && feeds[s.Endpoint] {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d subscriptions to the SES events topic %s, want 1", fn, len(found), topicID)
	}
	return found[0]
}

func TestFilterPolicyPassesExactlyFailureEventTypes(t *testing.T) {
	tpl := loadTemplate(t)
	sub := sesSubscription(t, tpl, "TriageFunction")
	if sub.FilterPolicyScope != "MessageBody" {
		t.Fatalf("FilterPolicyScope = %s, want MessageBody (SES puts the type in the body)", sub.FilterPolicyScope)
	}
	types := slices.Concat(sesEventTypes, ruleset.FailureEventTypes)
	for _, key := range []string{"eventType", "notificationType"} {
		for _, typ := range types {
			body := fmt.Sprintf(`{%q: %q, "mail": {"messageId": "m-1", "destination": ["a@example.com"]}}`, key, typ)
			got, err := sub.FilterPolicy.Match([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if want := slices.Contains(ruleset.FailureEventTypes, typ); got != want {
				t.Errorf("%s %q: filter passes = %v, triage handles = %v", key, typ, got, want)
			}
		}
	}
	if ok, _ := sub.FilterPolicy.Match([]byte(`Message rejected: Email address is not verified.`)); ok {
		t.Error("a plain-text body passed a MessageBody filter policy")
	}
}

// matchingType maps an SES event type to its MatchingEventTypes spelling.
var matchingType = map[string]string{
	ruleset.EventSend: "send", ruleset.EventDelivery: "delivery", ruleset.EventBounce: "bounce",
	ruleset.EventComplaint: "complaint", ruleset.EventReject: "reject",
	ruleset.EventRendering: "renderingFailure", ruleset.EventDeliveryDelay: "deliveryDelay",
	ruleset.EventOpen: "open", ruleset.EventClick: "click", ruleset.EventSubscription: "subscription",
}

func TestSESEventDestination(t *testing.T) {
	tpl := loadTemplate(t)
	dest := props(t, tpl, "SesEventDestination")
	got, _ := stack.Get(dest, "EventDestination", "MatchingEventTypes")
	types, _ := stack.Strings(got)
	// Triage's failures plus what bouncewatch counts (Sends, Deliveries).
	var want []string
	for _, e := range slices.Concat(ruleset.FailureEventTypes, []string{ruleset.EventSend, ruleset.EventDelivery}) {
		mt, ok := matchingType[e]
		if !ok {
			t.Fatalf("no MatchingEventTypes spelling for %q", e)
		}
		want = append(want, mt)
	}
	if missing := diff(want, types); len(missing) > 0 {
		t.Errorf("MatchingEventTypes lacks %v", missing)
	}
	if extra := diff(types, want); len(extra) > 0 {
		t.Errorf("MatchingEventTypes has %v, which no function uses", extra)
	}

	// The destination attaches to the configuration set the topic policy
	// names, whether created or existing.
	for _, create := range []string{"true", "false"} {
		r, err := tpl.Resolve(map[string]string{"CreateConfigurationSet": create, "ConfigurationSetName": "cs-1"})
		if err != nil {
			t.Fatal(err)
		}
		cs := props(t, r, "SesEventDestination")["ConfigurationSetName"]
		_, created := r.Resources["ConfigurationSet"]
		switch {
		case create == "true" && (!created || !equalJSON(cs, ref("ConfigurationSet"))):
			t.Errorf("create=true: configuration set created=%v, destination on %v", created, cs)
		case create == "false" && (created || !equalJSON(cs, ref("ConfigurationSetName"))):
			t.Errorf("create=false: configuration set created=%v, destination on %v", created, cs)
		}
		if created && !equalJSON(props(t, r, "ConfigurationSet")["Name"], ref("ConfigurationSetName")) {
			t.Error("the created configuration set is not named after ConfigurationSetName")
		}
	}

	pol, _ := stack.Get(props(t, tpl, "SesEventsTopicPolicy"), "PolicyDocument", "Statement", 0)
	if p, _ := stack.Get(pol, "Principal", "Service"); p != "ses.amazonaws.com" {
		t.Errorf("topic policy principal = %v, want ses.amazonaws.com", p)
	}
	src, _ := stack.Get(pol, "Condition", "StringEquals", "AWS:SourceArn")
	if s, _ := stack.Get(src, "Fn::Sub"); !strings.HasSuffix(fmt.Sprint(s), ":configuration-set/${ConfigurationSetName}") {
		t.Errorf("topic policy AWS:SourceArn = %v, want the configuration set's ARN", src)
	}
}
