package doctor

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// PolicyDocument is an IAM or resource policy.
type PolicyDocument struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement. Principal, Action and Resource keep
// whatever shape the policy used (a string, a list, a map).
type Statement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal any                       `json:"Principal,omitempty"`
	Action    any                       `json:"Action"`
	Resource  any                       `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// ReadOnlyPolicy is the IAM policy a doctor caller needs: IAMActions on
// every resource (the read calls take no narrower resource that would
// still let doctor find what is mis-wired).
func ReadOnlyPolicy() string {
	doc := PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Sid: "SesguardDoctorReadOnly", Effect: "Allow", Action: IAMActions(), Resource: "*"}}}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return string(b)
}

// SESTopicPolicy is the topic policy that lets SES publish the events of
// one configuration set of one account (as template.yaml's
// SesEventsTopicPolicy does).
func SESTopicPolicy(topicARN, account, region, configSet string) string {
	doc := PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Sid: "SESConfigurationSetPublishes", Effect: "Allow",
		Principal: map[string]any{"Service": "ses.amazonaws.com"}, Action: "sns:Publish", Resource: topicARN,
		Condition: map[string]map[string]any{"StringEquals": {
			"AWS:SourceAccount": account,
			"AWS:SourceArn":     fmt.Sprintf("arn:%s:ses:%s:%s:configuration-set/%s", partition(topicARN), region, account, configSet),
		}}}}}
	b, _ := json.Marshal(doc)
	return string(b)
}

// SNSQueuePolicy is the queue policy that lets one topic deliver to a
// queue (as template.yaml's BouncewatchQueuePolicy does).
func SNSQueuePolicy(queueARN, topicARN string) string {
	doc := PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Sid: "TopicDelivers", Effect: "Allow",
		Principal: map[string]any{"Service": "sns.amazonaws.com"}, Action: "sqs:SendMessage", Resource: queueARN,
		Condition: map[string]map[string]any{"ArnEquals": {"aws:SourceArn": topicARN}}}}}
	b, _ := json.Marshal(doc)
	return string(b)
}

func partition(arn string) string {
	if p := strings.SplitN(arn, ":", 3); len(p) == 3 && p[1] != "" {
		return p[1]
	}
	return "aws"
}

// allows reports whether the policy lets service (e.g. ses.amazonaws.com)
// perform action on resource, given the request's context keys (lower-case
// names: aws:sourcearn, aws:sourceaccount). Deny statements win. It reads
// the conditions doctor can judge (String*/Arn* equality and likeness on
// the given keys); a statement with any other condition is not counted as
// allowing, and why says so.
func allows(policy, service, action, resource string, ctxKeys map[string]string) (ok bool, why string, err error) {
	if strings.TrimSpace(policy) == "" {
		return false, "no policy", nil
	}
	var doc struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return false, "", fmt.Errorf("policy is not JSON: %w", err)
	}
	var stmts []Statement
	if err := json.Unmarshal(doc.Statement, &stmts); err != nil {
		var one Statement
		if err2 := json.Unmarshal(doc.Statement, &one); err2 != nil {
			return false, "", fmt.Errorf("policy Statement: %w", err)
		}
		stmts = []Statement{one}
	}
	allowed := false
	why = "no statement allows " + service + " " + action
	for i, s := range stmts {
		if !principalMatches(s.Principal, service) || !matchAny(s.Action, action, true) || !matchAny(s.Resource, resource, false) {
			continue
		}
		condOK, condWhy := conditionsHold(s.Condition, ctxKeys)
		if strings.EqualFold(s.Effect, "Deny") && condOK {
			return false, fmt.Sprintf("statement %d (%s) denies it", i+1, s.Sid), nil
		}
		if strings.EqualFold(s.Effect, "Allow") {
			if condOK {
				allowed, why = true, fmt.Sprintf("statement %d (%s) allows it", i+1, s.Sid)
			} else if !allowed {
				why = fmt.Sprintf("statement %d (%s) names %s but its condition does not match: %s", i+1, s.Sid, service, condWhy)
			}
		}
	}
	return allowed, why, nil
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func principalMatches(p any, service string) bool {
	if s, ok := p.(string); ok {
		return s == "*"
	}
	m, ok := p.(map[string]any)
	if !ok {
		return false
	}
	for _, s := range strs(m["Service"]) {
		if s == service {
			return true
		}
	}
	for _, s := range strs(m["AWS"]) {
		if s == "*" {
			return true
		}
	}
	return false
}

func matchAny(v any, want string, fold bool) bool {
	for _, p := range strs(v) {
		if fold {
			p, want = strings.ToLower(p), strings.ToLower(want)
		}
		if ok, _ := path.Match(strings.ReplaceAll(p, "/", "\x00"), strings.ReplaceAll(want, "/", "\x00")); ok || p == "*" {
			return true
		}
	}
	return false
}

func conditionsHold(c map[string]map[string]any, ctxKeys map[string]string) (bool, string) {
	for op, kv := range c {
		base := strings.TrimSuffix(op, "IfExists")
		for k, v := range kv {
			got, present := ctxKeys[strings.ToLower(k)]
			if !present {
				return false, fmt.Sprintf("%s on %s, a key doctor cannot judge", op, k)
			}
			vals := strs(v)
			hit := false
			for _, w := range vals {
				switch base {
				case "StringEquals", "ArnEquals":
					hit = hit || w == got
				case "StringEqualsIgnoreCase":
					hit = hit || strings.EqualFold(w, got)
				case "StringLike", "ArnLike":
					ok, _ := path.Match(strings.ReplaceAll(w, "/", "\x00"), strings.ReplaceAll(got, "/", "\x00"))
					hit = hit || ok
				default:
					return false, "operator " + op + " doctor cannot judge"
				}
			}
			if !hit {
				return false, fmt.Sprintf("%s %s is %v, not %s", op, k, vals, got)
			}
		}
	}
	return true, ""
}
